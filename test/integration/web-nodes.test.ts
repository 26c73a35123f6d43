import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { PASSWORD } from '../helpers.ts'
import { panelPostgres } from '../support/panel-postgres.ts'
import { requirePostgres, type PostgresServer } from '../services/postgres.ts'
import { freePort } from '../services/process.ts'
import { stopPanel } from '../e2e/browser.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { loadConfig } from '../../src/config.ts'
import { openDatabase, type Db } from '../../src/db/client.ts'
import { closePostgres } from '../../src/db/dialect.ts'
import { connectPostgres } from '../../src/db/pg.ts'
import {
  DOWNLOADS_PER_TENANT,
  releaseDownloadSlot,
  renewDownloadSlot,
  takeDownloadSlot,
} from '../../src/db/download-slots.ts'
import { downloadSlots, jobs } from '../../src/db/schema.ts'
import { findTenantByName } from '../../src/db/tenants.ts'
import { enqueue } from '../../src/db/jobs.ts'
import { createRun, finishRun, setRunProgress } from '../../src/db/runs.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import type { Deps } from '../../src/web/context.ts'

/**
 * Several web nodes behind a load balancer share the database and PANEL_SECRET_KEY: two real
 * `panel serve` processes on one PostgreSQL, each with a data dir of its own, and a user whose
 * requests alternate between them. Nothing a request needs may live in one process's memory.
 */

/** The origin the load balancer gives both nodes (PANEL_BASE_URL): what browsers send. */
const ORIGIN = 'http://panel.test'
const LIMIT_LINE = 'A download is already running: wait for it to finish, then try again.'

type Node = { name: string; url: string; proc: ChildProcess; output: () => string }

/** Starts `panel serve` on a free loopback port; resolves once it listens, with what it printed. */
async function startNode(name: string, env: Record<string, string>): Promise<Node> {
  const port = await freePort()
  const proc = spawn('node', ['src/bin.js', 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const output = () => out
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill()
      reject(new Error(`node ${name} did not start within 60 s:\n${out}`))
    }, 60_000)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('Panel listening on')) {
        clearTimeout(timer)
        resolve()
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`node ${name} exited with ${code}:\n${out}`))
    })
  })
  return { name, url: `http://127.0.0.1:${port}`, proc, output }
}

type Answer = { status: number; body: string; location: string | null; headers: Headers }

/** One browser behind the load balancer: one cookie jar, whichever node answers. */
class Browser {
  cookies = new Map<string, string>()
  /** The CSRF token of the last page that held a form. */
  token = ''

  private async send(node: Node, path: string, init: RequestInit = {}): Promise<Answer> {
    const headers = new Headers(init.headers)
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    if (cookie) headers.set('cookie', cookie)
    const res = await fetch(node.url + path, { ...init, headers, redirect: 'manual' })
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const [name, ...value] = pair!.split('=')
      const gone = attrs.some((a) => /^max-age=0$/i.test(a.trim()))
      if (gone) this.cookies.delete(name!.trim())
      else this.cookies.set(name!.trim(), value.join('='))
    }
    const body = await res.text()
    const found = body.match(/name="_csrf" value="([^"]+)"/)
    if (found) this.token = found[1]!
    return { status: res.status, body, location: res.headers.get('location'), headers: res.headers }
  }

  get(node: Node, path: string): Promise<Answer> {
    return this.send(node, path)
  }

  /** POSTs a form with the token of the page last seen, from whichever node served it. */
  post(node: Node, path: string, form: Record<string, string>): Promise<Answer> {
    const body = new URLSearchParams({ ...form, _csrf: this.token })
    return this.send(node, path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
      body: body.toString(),
    })
  }

  /** The `panel_session` cookie, for requests made with fetch directly. */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`still not true after ${ms} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe.runIf(requirePostgres())('two web nodes on one PostgreSQL', () => {
  let server: PostgresServer | undefined
  let deps: Deps
  let a: Node | undefined
  let b: Node | undefined
  let firstLink = ''
  const temps: string[] = []
  const temp = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    temps.push(dir)
    return dir
  }

  let shared: Record<string, string> = {}
  const slotsOf = (tenantId: number) =>
    deps.db.select().from(downloadSlots).where(eq(downloadSlots.tenantId, tenantId))

  beforeAll(async () => {
    const pg = await panelPostgres()
    server = pg.server
    shared = {
      PANEL_DATABASE_URL: pg.url,
      PANEL_SECRET_KEY: randomBytes(32).toString('hex'),
      PANEL_BASE_URL: ORIGIN,
      // Local destinations are one folder every node reaches (a shared mount in production).
      PANEL_LOCAL_ROOT: temp('panel-nodes-repos-'),
    }
    // A first, alone: it migrates the empty database and prints the first-start link.
    a = await startNode('A', { ...shared, PANEL_DATA_DIR: temp('panel-node-a-') })
    firstLink = a.output().match(/\/login\/link\/\S+/)![0]
    b = await startNode('B', {
      ...shared,
      PANEL_DATA_DIR: temp('panel-node-b-'),
      PANEL_RUNNER: '0',
    })
    const config = loadConfig({ ...shared, PANEL_DATA_DIR: temp('panel-nodes-test-') })
    deps = { db: await openDatabase(config, { log: () => {} }), config, drivers }
  }, 120_000)

  afterAll(async () => {
    await Promise.all([stopPanel(a), stopPanel(b)])
    if (deps) await closePostgres(deps.db)
    await server?.stop()
    removeUsers()
    for (const dir of temps) rmSync(dir, { recursive: true, force: true })
  })

  const admin = new Browser()
  const alice = new Browser()

  it('signs the admin in across nodes: first-start link on A, password set on B', async () => {
    const page = await admin.get(a!, firstLink)
    expect(page.status).toBe(200)
    expect(page.body).toContain('name="password"')
    // The form's token comes from A; B accepts it (same key, secret in the browser's cookie).
    const saved = await admin.post(b!, firstLink, { password: PASSWORD })
    expect(saved.status, b!.output()).toBe(303)
    expect(saved.location).toBe('/admin')
    // B's flash and B's session, on a page from A.
    const tenants = await admin.get(a!, '/admin/tenants')
    expect(tenants.status).toBe(200)
    expect(tenants.body).toContain('Password saved. You are signed in.')
    expect((await admin.get(b!, '/admin/tenants')).body).not.toContain('Password saved.')
  })

  it('keeps a session made on A on B, and ends it on both', async () => {
    await admin.get(b!, '/admin/tenants')
    expect((await admin.post(a!, '/logout', {})).location).toBe('/login')
    expect((await admin.get(b!, '/admin/tenants')).location).toMatch(/^\/login/)
    await admin.get(b!, '/login')
    const signedIn = await admin.post(a!, '/login', { username: 'admin', password: PASSWORD })
    expect(signedIn.status, a!.output()).toBe(303)
    expect(signedIn.location).toBe('/admin')
    for (const node of [b!, a!, b!]) {
      const page = await admin.get(node, '/admin/tenants')
      expect([node.name, page.status]).toEqual([node.name, 200])
    }
  })

  it('creates a tenant on B with a form from A; flashes cross nodes both ways', async () => {
    expect((await admin.get(a!, '/admin/tenants/new')).status).toBe(200)
    const created = await admin.post(b!, '/admin/tenants', {
      name: 'alice',
      password: PASSWORD,
      homeDir: '/home/alice',
      systemUser: '',
      timezone: 'UTC',
    })
    expect(created.status, created.body).toBe(303)
    const path = created.location!
    expect(path).toMatch(/^\/admin\/tenants\/\d+$/)
    expect((await admin.get(a!, path)).body).toContain('Tenant “alice” added.')
    // A flash set by a POST on A shows on the next page from B, once.
    const saved = await admin.post(a!, path, {
      password: '',
      homeDir: '/home/alice',
      systemUser: '',
      timezone: 'Europe/Berlin',
    })
    expect(saved.status, saved.body).toBe(303)
    expect((await admin.get(b!, path)).body).toContain('Tenant saved.')
    expect((await admin.get(a!, path)).body).not.toContain('Tenant saved.')
  })

  it('signs the tenant in on A and serves their pages on B', async () => {
    await alice.get(b!, '/login')
    const res = await alice.post(a!, '/login', { username: 'alice', password: PASSWORD })
    expect(res.status).toBe(303)
    expect(res.location).toBe('/backups')
    for (const node of [b!, a!]) expect((await alice.get(node, '/backups')).status).toBe(200)
  })

  it('shows a backup’s live progress on both nodes, whichever runner writes it', async () => {
    const tenantId = (await findTenantByName(deps.db, 'alice'))!.id
    // A job running on a hosting node's runner (not A's: its lease belongs to another process).
    const now = new Date()
    const { job } = await enqueue(deps.db, {
      kind: 'backup',
      tenantId,
      payload: { policyId: 999, policyName: 'Shop files' },
      runAt: new Date(now.getTime() + 3_600_000),
    })
    await deps.db
      .update(jobs)
      .set({
        status: 'running',
        attempts: 1,
        leaseOwner: 'web3:1:elsewhere',
        leaseExpiresAt: new Date(now.getTime() + 3_600_000),
        runAt: now,
      })
      .where(eq(jobs.id, job.id))
    const run = await createRun(deps.db, tenantId, {
      kind: 'backup',
      trigger: 'manual',
      jobId: job.id,
      policyId: null,
      policyName: 'Shop files',
    })
    try {
      const progress = {
        stage: 'snapshot',
        percent: 42,
        bytesDone: 42 << 20,
        totalBytes: 100 << 20,
      }
      await setRunProgress(deps.db, run.id, progress)
      for (const node of [a!, b!]) {
        const page = (await alice.get(node, '/backups/activity')).body
        expect([node.name, page]).toEqual([node.name, expect.stringContaining('Shop files')])
        expect(page).toContain('value="42"')
        expect(page).toContain('Uploading 42 MiB of 100 MiB')
      }
      await setRunProgress(deps.db, run.id, { ...progress, percent: 77, bytesDone: 77 << 20 })
      for (const node of [b!, a!]) {
        const page = (await alice.get(node, '/backups/activity')).body
        expect([node.name, page]).toEqual([node.name, expect.stringContaining('value="77"')])
      }
    } finally {
      await deps.db.update(jobs).set({ status: 'done' }).where(eq(jobs.id, job.id))
      await finishRun(deps.db, run.id, 'success')
    }
  })

  it('refuses a token that does not match the browser’s secret on either node', async () => {
    const stranger = new Browser()
    await stranger.get(a!, '/login')
    stranger.token = alice.token
    for (const node of [a!, b!]) {
      const res = await stranger.post(node, '/login', { username: 'alice', password: PASSWORD })
      expect([node.name, res.status]).toEqual([node.name, 403])
    }
  })

  it('counts sign-in failures made on A and on B together', async () => {
    const guesser = new Browser()
    await guesser.get(b!, '/login')
    expect(
      (await guesser.post(a!, '/login', { username: 'alice', password: 'wrong' })).status,
    ).toBe(401)
    expect(
      (await guesser.post(b!, '/login', { username: 'alice', password: 'wrong' })).status,
    ).toBe(401)
    // A alone has seen one failure; together they are two, and the account must wait.
    const held = await guesser.post(a!, '/login', { username: 'alice', password: PASSWORD })
    expect(held.status).toBe(429)
    const s = Number(held.headers.get('retry-after'))
    // 2 s after the second failure, less the time this request took to arrive.
    expect([1, 2]).toContain(s)
    expect(held.body).toContain(
      `Too many attempts: try again in ${s} ${s === 1 ? 'second' : 'seconds'}.`,
    )
    expect(held.body).toContain('value="alice"')
  })

  it('holds the download slot limit across processes, and frees a dead holder’s slot', async () => {
    const tenantId = (await findTenantByName(deps.db, 'alice'))!.id
    // A second connection pool stands for another node asking at the same moment.
    const other: Db = connectPostgres(deps.config.databaseUrl!, 4)
    try {
      const t0 = new Date()
      const asked = await Promise.all(
        [...Array(6).keys()].map((i) =>
          takeDownloadSlot(i % 2 ? other : deps.db, tenantId, `node-${i % 2}:1:test`, t0),
        ),
      )
      const taken = asked.filter((id): id is number => id !== null)
      expect(taken).toHaveLength(DOWNLOADS_PER_TENANT)
      const [kept, dead] = taken as [number, number]
      // `kept` is renewed, `dead`'s process stopped renewing: a minute later only it is gone.
      const later = (s: number) => new Date(t0.getTime() + s * 1000)
      expect(await renewDownloadSlot(other, tenantId, kept, later(50))).toBe(true)
      expect(await takeDownloadSlot(deps.db, tenantId, 'node-0:1:test', later(59))).toBeNull()
      const fresh = await takeDownloadSlot(deps.db, tenantId, 'node-0:1:test', later(61))
      expect(fresh).not.toBeNull()
      expect(await takeDownloadSlot(other, tenantId, 'node-1:1:test', later(61))).toBeNull()
      expect(await renewDownloadSlot(deps.db, tenantId, dead, later(62))).toBe(false)
      // Release is idempotent, and scoped to the tenant.
      await releaseDownloadSlot(other, tenantId + 1, kept)
      expect(await renewDownloadSlot(deps.db, tenantId, kept, later(62))).toBe(true)
      for (const id of [kept, kept, fresh!]) await releaseDownloadSlot(deps.db, tenantId, id)
      expect(await slotsOf(tenantId)).toEqual([])
    } finally {
      await closePostgres(other)
    }
  })

  it.runIf(rootAvailable())(
    'a tenant runs at most two downloads at once across both nodes',
    async () => {
      const big = randomBytes(48 * 1024 * 1024)
      const t = await realTenant(deps, 'dana', {
        'docs/readme.txt': 'hello\n',
        'big/random.bin': big,
      })
      const dest = await localDestination(deps, t.tenant.id)
      const policyId = await policy(deps, t.tenant.id, [dest.id])
      // Node A runs the backup (B has no runner).
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      expect((await waitJob(deps, t.tenant.id, job.id, 120_000)).status, a!.output()).toBe('done')
      const snap = (await listSnapshots(deps, t.tenant, dest))[0]!
      const dana = new Browser()
      await dana.get(a!, '/login')
      expect((await dana.post(b!, '/login', { username: 'dana', password: PASSWORD })).status).toBe(
        303,
      )
      const download = (node: Node, path: string, signal?: AbortSignal) =>
        fetch(
          `${node.url}/backups/restore/${dest.id}/${snap.id}/download?path=${encodeURIComponent(`${t.home}/${path}`)}`,
          { redirect: 'manual', headers: { cookie: dana.cookieHeader() }, signal },
        )

      const held = [new AbortController(), new AbortController()]
      for (const [i, node] of [a!, b!].entries()) {
        const res = await download(node, 'big', held[i]!.signal)
        expect([node.name, res.status]).toEqual([node.name, 200])
        await res.body!.getReader().read()
      }
      for (const node of [a!, b!]) {
        const third = await download(node, 'docs/readme.txt')
        expect([node.name, third.status]).toEqual([node.name, 429])
        expect(await third.text()).toContain(LIMIT_LINE)
      }
      expect(await slotsOf(t.tenant.id)).toHaveLength(2)
      for (const c of held) c.abort()
      await waitFor('slots released', async () => {
        const res = await download(b!, 'docs/readme.txt')
        const text = await res.text()
        return res.status === 200 && text === 'hello\n'
      })
      await waitFor('no slot rows left', async () => (await slotsOf(t.tenant.id)).length === 0)

      // A third node stopped (SIGTERM) during a download gives its slot back on the way out.
      const c = await startNode('C', {
        ...shared,
        PANEL_DATA_DIR: temp('panel-node-c-'),
        PANEL_RUNNER: '0',
      })
      try {
        const res = await download(c, 'big')
        expect(res.status).toBe(200)
        await res.body!.getReader().read()
        expect(await slotsOf(t.tenant.id)).toHaveLength(1)
      } finally {
        await stopPanel(c)
      }
      expect(c.proc.exitCode, c.output()).toBe(0)
      expect(await slotsOf(t.tenant.id)).toEqual([])
    },
    240_000,
  )
})
