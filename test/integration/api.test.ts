import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq, isNotNull } from 'drizzle-orm'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
} from '../support/tenants.ts'
import { createApp } from '../../src/web/app.tsx'
import { createApiKey, revokeApiKey } from '../../src/domain/api-keys.ts'
import { issueBackupToken } from '../../src/domain/backup-token.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { tenantUser } from '../../src/db/tenants.ts'
import {
  apiKeys,
  auditLog,
  jobs,
  runStages,
  tenants,
  users,
  type Tenant,
} from '../../src/db/schema.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import type { Deps } from '../../src/web/context.ts'

type Call = { key?: string; token?: string; method?: string; headers?: Record<string, string> }

/** One API request through app.request(), like curl would send it (no cookies unless given). */
async function call(app: ReturnType<typeof createApp>, path: string, opts: Call = {}) {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.key) headers.authorization = `Bearer ${opts.key}`
  if (opts.token) headers['x-backup-token'] = opts.token
  const res = await app.request(path, { method: opts.method ?? 'GET', headers })
  const bytes = Buffer.from(await res.arrayBuffer())
  const json = res.headers.get('content-type')?.includes('application/json')
    ? JSON.parse(bytes.toString())
    : null
  return { status: res.status, headers: res.headers, json, bytes }
}

/** An API key and an active backup token for a tenant, made the way the Access page makes them. */
async function credentials(deps: Deps, tenant: Tenant) {
  const { key, row } = await createApiKey(deps.db, tenant.id, 'test script', { actor: tenant.name })
  const user = (await tenantUser(deps.db, tenant.id))!
  const { token } = await issueBackupToken(
    deps,
    tenant,
    user,
    { confirm: 'create', password: PASSWORD },
    { actor: tenant.name },
  )
  return { key, token, prefix: row.prefix, keyId: row.id }
}

describe('JSON API /api/v1: authentication, tenancy and backup token, for every endpoint', () => {
  const deps = freshDeps()
  const app = createApp(deps)
  const ids = { alicePolicy: 0, aliceDest: 0, aliceJob: 0, bobPolicy: 0, bobDest: 0, bobJob: 0 }
  let alice: Awaited<ReturnType<typeof credentials>>
  let carol: Awaited<ReturnType<typeof credentials>>
  let revokedKey = ''

  beforeAll(async () => {
    const a = await addTenant(deps, 'alice')
    const b = await addTenant(deps, 'bob')
    const c = await addTenant(deps, 'carol')
    ids.aliceDest = (await localDestination(deps, a.id)).id
    ids.alicePolicy = await policy(deps, a.id, [ids.aliceDest])
    ids.bobDest = (await localDestination(deps, b.id)).id
    ids.bobPolicy = await policy(deps, b.id, [ids.bobDest])
    ids.bobJob = (await requestBackup(deps.db, b.id, ids.bobPolicy, 'manual')).job.id
    alice = await credentials(deps, a)
    await credentials(deps, b)
    revokedKey = (await createApiKey(deps.db, a.id, 'old', { actor: 'alice' })).key
    await revokeApiKey(
      deps.db,
      a.id,
      (await deps.db.select().from(apiKeys).where(eq(apiKeys.name, 'old')))[0]!.id,
      { actor: 'alice' },
    )
    // carol signs in without a password: her token waits (24 h by default).
    await deps.db.update(users).set({ passwordHash: null }).where(eq(users.tenantId, c.id))
    const { key } = await createApiKey(deps.db, c.id, 'carol script', { actor: 'carol' })
    const { token } = await issueBackupToken(
      deps,
      c,
      (await tenantUser(deps.db, c.id))!,
      { confirm: 'create', password: '' },
      { actor: 'carol' },
    )
    carol = { key, token, prefix: '', keyId: 0 }
  })

  type Endpoint = {
    name: string
    method: 'GET' | 'POST'
    path: () => string
    /** The same request aimed at bob's object. */
    other?: () => string
    needsToken: boolean
    check: (res: Awaited<ReturnType<typeof call>>) => void
  }

  const endpoints: Endpoint[] = [
    {
      name: 'GET /policies',
      method: 'GET',
      path: () => '/api/v1/policies',
      needsToken: false,
      check: (res) => {
        expect(res.status).toBe(200)
        expect(res.json).toEqual({
          policies: [
            expect.objectContaining({
              id: ids.alicePolicy,
              name: 'Nightly',
              enabled: true,
              destinations: [{ id: ids.aliceDest, name: 'Local', type: 'local' }],
              nextRun: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
            }),
          ],
        })
      },
    },
    {
      name: 'POST /policies/:id/backups',
      method: 'POST',
      path: () => `/api/v1/policies/${ids.alicePolicy}/backups`,
      other: () => `/api/v1/policies/${ids.bobPolicy}/backups`,
      needsToken: false,
      check: (res) => {
        expect(res.status).toBe(202)
        expect(res.json).toMatchObject({
          job: { id: expect.any(Number), kind: 'backup', status: 'queued' },
        })
        expect(res.headers.get('location')).toBe(`/api/v1/jobs/${res.json.job.id}`)
        ids.aliceJob = res.json.job.id
      },
    },
    {
      name: 'GET /jobs/:id',
      method: 'GET',
      path: () => `/api/v1/jobs/${ids.aliceJob}`,
      other: () => `/api/v1/jobs/${ids.bobJob}`,
      needsToken: false,
      check: (res) => {
        expect(res.status).toBe(200)
        expect(res.json).toMatchObject({
          job: { id: ids.aliceJob, kind: 'backup', status: 'queued', attempts: 0 },
          run: null,
        })
      },
    },
    {
      name: 'GET /snapshots',
      method: 'GET',
      path: () => '/api/v1/snapshots',
      other: () => `/api/v1/snapshots?destination=${ids.bobDest}`,
      needsToken: true,
      check: (res) => {
        expect(res.status).toBe(200)
        expect(res.json).toEqual({
          destinations: [{ id: ids.aliceDest, name: 'Local', type: 'local', snapshots: [] }],
        })
      },
    },
    {
      name: 'GET /snapshots/:id/download',
      method: 'GET',
      path: () => `/api/v1/snapshots/latest/download?destination=${ids.aliceDest}`,
      other: () => `/api/v1/snapshots/latest/download?destination=${ids.bobDest}`,
      needsToken: true,
      // Nothing backed up yet here; the bytes are checked against a real backup below.
      check: (res) => {
        expect(res.status).toBe(404)
        expect(res.json.error).toEqual({
          code: 'not_found',
          message: 'There is no backup on “Local” yet.',
        })
      },
    },
  ]

  const error = (status: number, code: string) => (res: Awaited<ReturnType<typeof call>>) => {
    expect(res.status).toBe(status)
    expect(res.json).toEqual({ error: { code, message: expect.any(String) } })
    expect(res.json.error.message.length).toBeGreaterThan(10)
  }

  const scenarios = endpoints.flatMap((e) => {
    const token = () => (e.needsToken ? alice.token : undefined)
    const list: [
      string,
      () => { path: string; opts: Call },
      (res: Awaited<ReturnType<typeof call>>) => void,
    ][] = [
      [
        'no key → 401',
        () => ({ path: e.path(), opts: { token: token() } }),
        error(401, 'unauthorized'),
      ],
      [
        'unknown key → 401',
        () => ({ path: e.path(), opts: { key: 'pk_' + 'a'.repeat(32), token: token() } }),
        error(401, 'unauthorized'),
      ],
      [
        'malformed Authorization → 401',
        () => ({
          path: e.path(),
          opts: { headers: { authorization: `Basic ${alice.key}` }, token: token() },
        }),
        error(401, 'unauthorized'),
      ],
      [
        'revoked key → 401',
        () => ({ path: e.path(), opts: { key: revokedKey, token: token() } }),
        error(401, 'unauthorized'),
      ],
    ]
    if (e.other)
      list.push([
        'another tenant’s object → 404',
        () => ({ path: e.other!(), opts: { key: alice.key, token: token() } }),
        error(404, 'not_found'),
      ])
    if (e.needsToken) {
      list.push(
        [
          'no backup token → 403',
          () => ({ path: e.path(), opts: { key: alice.key } }),
          error(403, 'backup_token_missing'),
        ],
        [
          'wrong backup token → 403',
          () => ({ path: e.path(), opts: { key: alice.key, token: 'bt_' + 'b'.repeat(32) } }),
          error(403, 'backup_token_invalid'),
        ],
        [
          'another tenant’s backup token → 403',
          () => ({ path: e.path(), opts: { key: alice.key, token: carol.token } }),
          error(403, 'backup_token_invalid'),
        ],
        [
          'backup token not yet active → 403',
          () => ({
            path: e.path().replace(/\?.*/, ''),
            opts: { key: carol.key, token: carol.token },
          }),
          error(403, 'backup_token_not_active'),
        ],
      )
    }
    list.push([
      e.needsToken ? 'key + token → success shape' : 'key alone → success shape',
      () => ({ path: e.path(), opts: { key: alice.key, token: token() } }),
      e.check,
    ])
    return list.map(([what, req, check]) => ({
      label: `${e.name}: ${what}`,
      method: e.method,
      req,
      check,
    }))
  })

  it.each(scenarios)('$label', async ({ method, req, check }) => {
    const { path, opts } = req()
    const res = await call(app, path, { ...opts, method })
    check(res)
    expect(res.headers.get('set-cookie')).toBeNull()
  })

  it('a signed-in browser session does not authenticate API calls, and CSRF does not apply', async () => {
    const web = new Client(deps)
    await web.login('alice')
    const cookie = [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const viaCookie = await call(app, '/api/v1/policies', { headers: { cookie } })
    error(401, 'unauthorized')(viaCookie)
    // A cross-site POST without a CSRF token: refused for lack of a key, not by CSRF…
    const post = await call(app, `/api/v1/policies/${ids.alicePolicy}/backups`, {
      method: 'POST',
      headers: { cookie, origin: 'https://evil.example' },
    })
    error(401, 'unauthorized')(post)
    // …and with a key it is an API call: no origin check, no CSRF token needed.
    const keyed = await call(app, `/api/v1/policies/${ids.alicePolicy}/backups`, {
      method: 'POST',
      key: alice.key,
      headers: { origin: 'https://evil.example' },
    })
    expect(keyed.status).toBe(202)
    expect(keyed.json.created).toBe(false) // the pending backup is reused
    expect(keyed.json.job.id).toBe(ids.aliceJob)
  })

  it('refuses a trigger past the on-demand limit with 429 limit_reached', async () => {
    const dave = await addTenant(deps, 'dave')
    const destId = (await localDestination(deps, dave.id)).id
    const policyId = await policy(deps, dave.id, [destId])
    const { key } = await createApiKey(deps.db, dave.id, 'dave script', { actor: 'dave' })
    await deps.db.update(tenants).set({ quotaRunsPerDay: 1 }).where(eq(tenants.id, dave.id))
    const path = `/api/v1/policies/${policyId}/backups`
    const first = await call(app, path, { method: 'POST', key })
    expect(first.status).toBe(202)
    await deps.db.update(jobs).set({ status: 'done' }).where(eq(jobs.id, first.json.job.id))
    const second = await call(app, path, { method: 'POST', key })
    expect(second.status).toBe(429)
    expect(second.json.error).toEqual({
      code: 'limit_reached',
      message: expect.stringMatching(
        /^You have used 1 of 1 on-demand backups today; the next is possible after \d\d:\d\d\.$/,
      ),
    })
  })

  it('answers bad input with 422 invalid and unknown endpoints with JSON 404', async () => {
    const headers = { key: alice.key, token: alice.token }
    for (const path of [
      '/api/v1/snapshots?destination=abc',
      '/api/v1/snapshots/not-a-snapshot!/download',
      `/api/v1/snapshots/latest/download?path=../../etc&destination=${ids.aliceDest}`,
    ]) {
      const res = await call(app, path, headers)
      expect(res.status).toBe(422)
      expect(res.json.error).toMatchObject({
        code: 'invalid',
        message: expect.any(String),
        fields: expect.any(Object),
      })
    }
    error(404, 'not_found')(await call(app, '/api/v1/nothing-here', headers))
    error(404, 'not_found')(await call(app, '/api/v1/jobs/0', headers))
  })

  it('records triggers as api:<prefix> in the audit log and when a key was last used', async () => {
    const entries = await deps.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.action, 'backup.request'))
    expect(entries.length).toBeGreaterThan(0)
    expect(entries[0]).toMatchObject({
      actor: `api:${alice.prefix}`,
      target: 'Nightly',
      userId: null,
    })
    const before = Date.now()
    expect((await call(app, '/api/v1/policies', { key: alice.key })).status).toBe(200)
    const after = Date.now()
    const row = (await deps.db.select().from(apiKeys).where(eq(apiKeys.id, alice.keyId)))[0]!
    expect(row.lastUsedAt!.getTime()).toBeGreaterThanOrEqual(before)
    expect(row.lastUsedAt!.getTime()).toBeLessThanOrEqual(after)
    expect(alice.prefix).toBe(alice.key.slice(0, 11))
  })
})

describe.runIf(rootAvailable())('JSON API: a real backup pulled as a tar stream', () => {
  const deps = freshDeps()
  const app = createApp(deps)
  const media = randomBytes(300_000)
  let runner: Runner
  let dora: Awaited<ReturnType<typeof realTenant>>
  let creds: Awaited<ReturnType<typeof credentials>>
  let destId = 0
  let policyId = 0

  beforeAll(async () => {
    dora = await realTenant(deps, 'dora', {
      'public_html/index.html': '<h1>dora</h1>\n',
      'public_html/img/photo.bin': media,
      'notes/todo.txt': 'back up everything\n',
    })
    destId = (await localDestination(deps, dora.tenant.id)).id
    policyId = await policy(deps, dora.tenant.id, [destId])
    creds = await credentials(deps, dora.tenant)
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
  })
  afterAll(async () => {
    await runner?.stop()
    removeUsers()
  })

  const auth = () => ({ key: creds.key, token: creds.token })

  it('triggers a backup and reports its progress until it succeeded', async () => {
    const trigger = await call(app, `/api/v1/policies/${policyId}/backups`, {
      method: 'POST',
      key: creds.key,
    })
    expect(trigger.status).toBe(202)
    runner.wake()
    let res = await call(app, `/api/v1/jobs/${trigger.json.job.id}`, { key: creds.key })
    for (let i = 0; i < 600 && !['done', 'failed'].includes(res.json.job.status); i++) {
      await new Promise((r) => setTimeout(r, 100))
      res = await call(app, `/api/v1/jobs/${trigger.json.job.id}`, { key: creds.key })
    }
    expect(res.json.job.status).toBe('done')
    expect(res.json.run).toMatchObject({
      kind: 'backup',
      trigger: 'api',
      status: 'success',
      error: null,
      progress: null,
    })
    expect(res.json.run.stages).toContainEqual(
      expect.objectContaining({
        name: 'snapshot',
        destinationId: destId,
        status: 'success',
        snapshotId: expect.stringMatching(/^[0-9a-f]{8,64}$/),
      }),
    )
  })

  it('lists the snapshot per destination, also filtered by policy', async () => {
    const res = await call(app, `/api/v1/snapshots?policy=${policyId}`, auth())
    expect(res.status).toBe(200)
    expect(res.json.destinations).toEqual([
      {
        id: destId,
        name: 'Local',
        type: 'local',
        snapshots: [
          expect.objectContaining({
            id: expect.stringMatching(/^[0-9a-f]{64}$/),
            policyId,
            paths: expect.arrayContaining([dora.home]),
          }),
        ],
      },
    ])
  })

  /** Extracts a tar into a fresh folder and returns it. */
  function untar(bytes: Buffer): string {
    const dir = mkdtempSync(join(tmpdir(), 'api-untar-'))
    writeFileSync(join(dir, 'x.tar'), bytes)
    execFileSync('tar', ['-xf', 'x.tar'], { cwd: dir })
    return dir
  }

  it('streams `latest` as a tar holding exactly the backed-up bytes', async () => {
    const res = await call(app, '/api/v1/snapshots/latest/download', auth())
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/x-tar')
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="dora-\d{4}-\d\d-\d\d-[0-9a-f]{8}-all\.tar"$/,
    )
    const dir = untar(res.bytes)
    const home = join(dir, dora.home)
    expect(readFileSync(join(home, 'public_html/index.html'), 'utf8')).toBe('<h1>dora</h1>\n')
    expect(readFileSync(join(home, 'public_html/img/photo.bin')).equals(media)).toBe(true)
    expect(readFileSync(join(home, 'notes/todo.txt'), 'utf8')).toBe('back up everything\n')
    const entry = (
      await deps.db.select().from(auditLog).where(eq(auditLog.action, 'snapshot.download'))
    )[0]!
    expect(entry).toMatchObject({
      actor: `api:${creds.prefix}`,
      tenantId: dora.tenant.id,
      details: { destination: 'Local', path: '/' },
    })
  })

  it('streams one folder of a snapshot by its short id, and 404s a path it does not hold', async () => {
    const id = (await res0()).slice(0, 8)
    const res = await call(
      app,
      `/api/v1/snapshots/${id}/download?destination=${destId}&path=public_html`,
      auth(),
    )
    expect(res.status).toBe(200)
    const dir = untar(res.bytes)
    expect(readdirSync(join(dir, dora.home))).toEqual(['public_html'])
    expect(readFileSync(join(dir, dora.home, 'public_html/img/photo.bin')).equals(media)).toBe(true)
    const missing = await call(app, `/api/v1/snapshots/${id}/download?path=no/such/folder`, auth())
    expect(missing.status).toBe(404)
    expect(missing.json.error.code).toBe('not_found')
    const outside = await call(app, `/api/v1/snapshots/${id}/download?path=/etc`, auth())
    expect(outside.status).toBe(404)
    const unknown = await call(app, `/api/v1/snapshots/${'0'.repeat(8)}/download`, auth())
    expect(unknown.status).toBe(404)
  })

  async function res0(): Promise<string> {
    const row = (
      await deps.db
        .select({ snapshot_id: runStages.snapshotId })
        .from(runStages)
        .where(and(eq(runStages.name, 'snapshot'), isNotNull(runStages.snapshotId)))
    )[0] as { snapshot_id: string }
    return row.snapshot_id
  }
})
