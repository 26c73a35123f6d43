import { describe, expect, it } from 'vitest'
import { closePostgres, isPostgres } from '../../src/db/dialect.ts'
import { hostname } from 'node:os'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { listHeartbeats, saveHeartbeat } from '../../src/db/runner-heartbeats.ts'
import { runnerHeartbeats } from '../../src/db/schema.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { createApp } from '../../src/web/app.tsx'
import { Client, PASSWORD, freshDeps } from '../helpers.ts'

type Health = {
  status: 'ok' | 'fail'
  failing?: string[]
  checks: Record<string, { ok: boolean; problem?: string; [k: string]: unknown }>
}

async function probe(deps: ReturnType<typeof freshDeps>) {
  const res = await createApp(deps).request('/healthz')
  return { res, body: (await res.json()) as Health }
}

const ago = (ms: number) => new Date(Date.now() - ms)

describe('GET /healthz', () => {
  it('answers 200 with every check, no cookie and no caching', async () => {
    const deps = freshDeps()
    const { res, body } = await probe(deps)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(body.status).toBe('ok')
    expect(body.checks.database).toEqual({ ok: true })
    // No runner here and none recorded: a web-only node is healthy without one.
    expect(body.checks.runner).toMatchObject({ ok: true, expected: false, runners: [] })
    expect(body.checks.restic).toMatchObject({ ok: true, version: expect.stringMatching(/^\d+\./) })
  })

  it('lists a live runner, and forgets it when it stops', async () => {
    const deps = freshDeps()
    const runner = startRunner({ db: deps.db, handlers: {}, concurrency: 3, pollMs: 50 })
    await new Promise((r) => setTimeout(r, 100))
    const { res, body } = await probe({ ...deps, runnerId: runner.owner })
    expect(res.status).toBe(200)
    expect(body.checks.runner).toMatchObject({
      ok: true,
      expected: true,
      runners: [{ host: hostname(), pid: process.pid, concurrency: 3, stale: false }],
    })
    await runner.stop()
    expect(await listHeartbeats(deps.db)).toEqual([])
  })

  it('answers 503 naming the runner whose heartbeat is older than 2 minutes', async () => {
    const deps = freshDeps()
    const row = { host: 'node-b', pid: 4242, concurrency: 2, startedAt: ago(3600_000) }
    await saveHeartbeat(deps.db, { id: 'node-b:4242:ab', ...row, lastSeen: ago(5 * 60_000) })
    await saveHeartbeat(deps.db, {
      id: 'node-c:7:cd',
      ...row,
      host: 'node-c',
      lastSeen: ago(10_000),
    })
    const { res, body } = await probe(deps)
    expect(res.status).toBe(503)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(body.status).toBe('fail')
    expect(body.failing).toEqual(['runner'])
    expect(body.checks.runner!.problem).toBe('Runner node-b (pid 4242) was last seen 300 s ago.')
    expect(body.checks.database!.ok).toBe(true)

    // Within 2 minutes is healthy.
    await deps.db.update(runnerHeartbeats).set({ lastSeen: ago(110_000) })
    expect((await probe(deps)).res.status).toBe(200)
  })

  it('lists a silent runner of another hosting node without failing this node', async () => {
    const deps = freshDeps()
    const row = { host: 'host-h1', pid: 11, concurrency: 4, startedAt: ago(3600_000) }
    await saveHeartbeat(deps.db, { id: 'h1:11:aa', ...row, node: 'h1', lastSeen: ago(600_000) })
    // A web node (no runner of its own, no node) behind a load balancer stays in.
    const web = await probe(deps)
    expect(web.res.status).toBe(200)
    expect(web.body.checks.runner).toMatchObject({
      ok: true,
      expected: false,
      runners: [{ host: 'host-h1', node: 'h1', pid: 11, stale: true }],
    })
    // A panel serve on h1 itself (PANEL_NODE=h1) answers for it.
    const onH1 = await probe({ ...deps, config: { ...deps.config, node: 'h1' } })
    expect(onH1.res.status).toBe(503)
    expect(onH1.body.checks.runner!.problem).toBe(
      'Runner host-h1 (pid 11) was last seen 600 s ago.',
    )
    // A silent runner of the panel's own server (no node) still fails the web node.
    await saveHeartbeat(deps.db, {
      id: 'own:12:bb',
      ...row,
      host: 'web',
      pid: 12,
      lastSeen: ago(600_000),
    })
    expect((await probe(deps)).res.status).toBe(503)
  })

  it('answers 503 when this process runs a runner that never recorded a heartbeat', async () => {
    const deps = freshDeps()
    const { res, body } = await probe({ ...deps, runnerId: 'here:1:00' })
    expect(res.status).toBe(503)
    expect(body.failing).toEqual(['runner'])
    expect(body.checks.runner!.problem).toMatch(/this process has recorded no heartbeat/)
  })

  it('answers 503 naming the database when it is gone', async () => {
    const deps = freshDeps()
    if (isPostgres(deps.db)) await closePostgres(deps.db)
    else deps.db.$client.close()
    const { res, body } = await probe(deps)
    expect(res.status).toBe(503)
    expect(body.failing).toEqual(['database'])
    expect(body.checks.database!.problem).toMatch(/^The database does not answer: /)
    expect(body.checks.runner).toMatchObject({ ok: false, skipped: true })
  })

  it('a restarted runner replaces the stale row its crashed predecessor left on this host', async () => {
    const deps = freshDeps()
    const crashed = { host: hostname(), pid: 999_999, concurrency: 1, startedAt: ago(600_000) }
    await saveHeartbeat(deps.db, { id: 'crashed', ...crashed, lastSeen: ago(300_000) })
    await saveHeartbeat(deps.db, {
      id: 'elsewhere',
      ...crashed,
      host: 'node-z',
      lastSeen: ago(300_000),
    })
    const runner = startRunner({ db: deps.db, handlers: {}, pollMs: 50 })
    await new Promise((r) => setTimeout(r, 100))
    expect((await listHeartbeats(deps.db)).map((r) => r.id).sort()).toEqual(
      ['elsewhere', runner.owner].sort(),
    )
    await runner.stop()
  })
})

describe('Admin > Runner shows each runner process', async () => {
  const deps = freshDeps()
  await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
  const admin = new Client(deps)
  await admin.login('boss')

  it('with host, pid, last seen, jobs at once, and a stale one marked', async () => {
    const empty = await admin.get('/admin/runner')
    expect(empty.body).toContain('Runner processes (0)')
    expect(empty.body).toContain('No runner process is running')
    const row = { concurrency: 4, startedAt: ago(3600_000) }
    await saveHeartbeat(deps.db, {
      id: 'a',
      host: 'web-1',
      pid: 321,
      ...row,
      lastSeen: ago(12_000),
    })
    await saveHeartbeat(deps.db, {
      id: 'b',
      host: 'node-2',
      pid: 77,
      ...row,
      lastSeen: ago(600_000),
    })
    const page = (await admin.get('/admin/runner')).body
    expect(page).toContain('Runner processes (2)')
    const cells = (host: string) => {
      const tr = page.match(new RegExp(`<tr><td class="strong"[^>]*>${host}</td>.*?</tr>`))
      return tr?.[0].replace(/<[^>]+>/g, '|').replace(/\|+/g, '|') ?? ''
    }
    // Host, node (this server), process, last seen, jobs running, jobs at once.
    expect(cells('web-1')).toMatch(/\|web-1\|This server\|pid 321\|12 s ago\|0\|4\|/)
    expect(cells('web-1')).not.toContain('Not answering')
    expect(cells('node-2')).toMatch(
      /\|node-2\|This server\|pid 77\|10 min ago \|Not answering\|0\|4\|/,
    )
  })
})
