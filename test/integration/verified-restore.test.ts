import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { chmodSync, openSync, readdirSync, statSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { requireMariaDb, startMariaDb, type MariaDbServer } from '../services/mariadb.ts'
import { requirePostgres, startPostgres, type PostgresServer } from '../services/postgres.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { requestVerify } from '../../src/domain/verify.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { tickScheduler } from '../../src/runner/scheduler.ts'
import {
  createRun,
  finishRun,
  finishStage,
  getRun,
  runStagesOf,
  startStage,
} from '../../src/db/runs.ts'
import { jobs, scheduleState, verifications } from '../../src/db/schema.ts'
import type { Deps } from '../../src/web/context.ts'

const FILES: Record<string, string | Buffer> = {
  'public_html/index.php': '<?php echo "shop";\n',
  'public_html/assets/logo.bin': randomBytes(2 << 20),
  'private/notes.txt': 'only mine\n',
}

async function verificationsOf(deps: Deps, runId: number) {
  return await deps.db.select().from(verifications).where(eq(verifications.runId, runId))
}

describe.runIf(rootAvailable() && requireMariaDb() && requirePostgres())(
  'verified restores (real restic, MariaDB, PostgreSQL)',
  () => {
    const deps = freshDeps()
    let maria: MariaDbServer
    let pg: PostgresServer
    let runner: Runner
    let t: Awaited<ReturnType<typeof realTenant>>
    let policyId = 0
    let folder = ''

    const scratchLeft = async () => ({
      maria: (await maria.sql("SHOW DATABASES LIKE 'shop\\_verify\\_%'")).trim(),
      pg: (
        await pg.sql("SELECT datname FROM pg_database WHERE datname LIKE 'blog_verify_%'")
      ).trim(),
    })
    const sandboxes = () => readdirSync(join(deps.config.workDir, t.tenant.name, 'restore'))

    /** The real `panel` CLI on this test's data directory. */
    const panel = (...args: string[]) => {
      const env = {
        ...process.env,
        PANEL_DATA_DIR: deps.config.dataDir,
        PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
        // PANEL_TEST_DB=postgres: this deps' database, not the one the last freshDeps() set.
        ...(deps.config.databaseUrl ? { PANEL_DATABASE_URL: deps.config.databaseUrl } : {}),
      }
      const res = spawnSync('node', ['src/bin.js', ...args], { encoding: 'utf8', env })
      return { code: res.status, out: res.stdout, err: res.stderr }
    }

    async function verifyNow(mode: 'check' | 'restore', subset?: string) {
      const { job } = await requestVerify(deps.db, t.tenant.id, policyId, mode, 'manual', {
        subset,
      })
      runner.wake()
      const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
      const run = (await deps.db.query.runs.findFirst({
        where: (r, { eq }) => eq(r.jobId, job.id),
      }))!
      return { job: done, run, rows: await verificationsOf(deps, run.id) }
    }

    beforeAll(async () => {
      ;[maria, pg] = await Promise.all([startMariaDb(), startPostgres()])
      await maria.createDatabase('shop', 'shopuser', 'maria pw #1')
      await maria.sql(
        'CREATE TABLE orders (id INT PRIMARY KEY); CREATE TABLE items (id INT PRIMARY KEY); INSERT INTO orders VALUES (1),(2);',
        'shop',
      )
      // The scratch database is created with the tenant's own database user.
      await maria.sql("GRANT ALL ON `shop\\_verify\\_%`.* TO 'shopuser'@'%'")
      await pg.createDatabase('blog', 'bloguser', 'pg pw :2')
      await pg.sql(
        'CREATE TABLE posts (id INT PRIMARY KEY); CREATE TABLE tags (id INT); CREATE TABLE links (id INT);',
        'blog',
      )
      await pg.sql(
        'ALTER TABLE posts OWNER TO bloguser; ALTER TABLE tags OWNER TO bloguser; ALTER TABLE links OWNER TO bloguser',
        'blog',
      )
      await pg.sql('ALTER USER bloguser CREATEDB')
      t = await realTenant(deps, 'verif', FILES)
      chmodSync(join(t.home, 'private/notes.txt'), 0o640)
      const key = deps.config.secretKey
      const shop = await assignDatabase(deps.db, key, t.tenant.id, {
        engine: 'mariadb',
        name: 'shop',
        host: '127.0.0.1',
        port: String(maria.port),
        username: 'shopuser',
        password: 'maria pw #1',
      })
      const blog = await assignDatabase(deps.db, key, t.tenant.id, {
        engine: 'postgresql',
        name: 'blog',
        host: '127.0.0.1',
        port: String(pg.port),
        username: 'bloguser',
        password: 'pg pw :2',
      })
      folder = 'verified'
      const dest = await localDestination(deps, t.tenant.id, folder)
      policyId = await policy(deps, t.tenant.id, [dest.id], { databaseIds: [shop.id, blog.id] })
      runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      runner.wake()
      const backup = await waitJob(deps, t.tenant.id, job.id, 120_000)
      expect(backup.status, backup.lastError ?? '').toBe('done')
    }, 180_000)
    afterAll(async () => {
      await runner?.stop()
      await Promise.all([maria?.stop(), pg?.stop()])
      removeUsers()
    })

    it('restores the latest snapshot into a sandbox, loads both dumps into scratch databases, then removes them', async () => {
      const { job, run, rows } = await verifyNow('restore')
      expect(job.status, job.lastError ?? '').toBe('done')
      expect(run.status).toBe('success')
      expect(run.policyId).toBe(policyId)
      expect(rows).toHaveLength(1)
      const v = rows[0]!
      expect(v).toMatchObject({ mode: 'restore', ok: true, policyId })
      expect(v.snapshotId).toMatch(/^[0-9a-f]{64}$/)
      expect(v.durationMs).toBeGreaterThan(0)
      // 3 home files + 2 dumps + the panel settings file, all of them sampled.
      expect(v.message).toMatch(
        /^Restored 6 files \([\d.]+ MiB\) in \d+ s; 6 sampled files match; shop: 2 tables loaded; blog: 3 tables loaded\.$/,
      )
      const stages = (await runStagesOf(deps.db, run.id)).map((s) => [s.name, s.status])
      expect(stages).toEqual([
        ['test-restore', 'success'],
        ['compare-files', 'success'],
        ['load:shop', 'success'],
        ['load:blog', 'success'],
        ['cleanup', 'success'],
      ])
      expect(sandboxes()).toEqual([])
      expect(await scratchLeft()).toEqual({ maria: '', pg: '' })
      // The policy's monthly clock restarted.
      const state = (
        await deps.db.select().from(scheduleState).where(eq(scheduleState.policyId, policyId))
      )[0]
      expect(state?.lastTestRestoreAt).toBeInstanceOf(Date)
    }, 180_000)

    it('runs a test restore from the CLI with --wait and reports its stages', async () => {
      const res = panel('verify', 'verif', '--policy', 'Nightly', '--restore', '--wait', '--json')
      expect(res.code, res.err).toBe(0)
      const out = JSON.parse(res.out)
      expect(out.status).toBe('success')
      expect(out.stages.map((s: { name: string }) => s.name)).toEqual([
        'test-restore',
        'compare-files',
        'load:shop',
        'load:blog',
        'cleanup',
      ])
      expect(await verificationsOf(deps, out.runId)).toEqual([
        expect.objectContaining({ mode: 'restore', ok: true }),
      ])
    }, 180_000)

    it('fails in plain words when the database user may not create the scratch database, leaving nothing behind', async () => {
      await pg.sql('ALTER USER bloguser NOCREATEDB')
      try {
        const { job, run, rows } = await verifyNow('restore')
        expect(job.status).toBe('failed')
        expect(run.status).toBe('failed')
        expect(rows).toEqual([expect.objectContaining({ mode: 'restore', ok: false })])
        expect(rows[0]!.message).toMatch(
          /^blog: could not create a scratch database to load the dump into \(.*permission denied.*\)\. The database user needs the right to create databases named blog_verify_\*\.$/,
        )
        const stages = (await runStagesOf(deps.db, run.id)).map((s) => [s.name, s.status])
        expect(stages.slice(-2)).toEqual([
          ['load:blog', 'failed'],
          ['cleanup', 'success'],
        ])
        expect(sandboxes()).toEqual([])
        expect(await scratchLeft()).toEqual({ maria: '', pg: '' })
      } finally {
        await pg.sql('ALTER USER bloguser CREATEDB')
      }
    }, 180_000)

    it('detects a damaged data pack on the destination, in the check and in the test restore', async () => {
      const data = join(deps.config.localRoot, t.tenant.name, folder, 'data')
      const packs = readdirSync(data, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name))
        .sort((a, b) => statSync(b).size - statSync(a).size)
      // The largest pack holds the file contents (2 MB of random bytes); tree packs are small.
      const fd = openSync(packs[0]!, 'r+')
      writeSync(fd, Buffer.from('this pack was damaged on the destination'), 0, undefined, 4096)
      closeSync(fd)

      const check = await verifyNow('check', '100%')
      expect(check.job.status).toBe('failed')
      expect(check.run.status).toBe('failed')
      expect(check.rows).toEqual([expect.objectContaining({ mode: 'check', ok: false })])
      expect(check.rows[0]!.message).toMatch(
        /^Damaged data on the destination: 1 stored pack file\(s\) no longer match their checksum/,
      )
      expect((await getRun(deps.db, t.tenant.id, check.run.id)).error).toMatch(
        /Local: Damaged data on the destination/,
      )

      const cli = panel('verify', 'verif', '--policy', 'Nightly', '--subset', '100%', '--wait')
      expect(cli.code).toBe(1)
      expect(cli.out).toMatch(/check \[Local\]: failed Damaged data on the destination/)
      expect(cli.err.trim().split('\n')).toEqual([
        expect.stringMatching(/^panel: Local: Damaged data on the destination/),
      ])

      const restore = await verifyNow('restore')
      expect(restore.job.status).toBe('failed')
      expect(restore.run.status).toBe('failed')
      expect(restore.rows).toEqual([expect.objectContaining({ mode: 'restore', ok: false })])
      expect(restore.rows[0]!.message).toMatch(
        /file\(s\) could not be restored: .*logo\.bin.*its data on the destination is damaged/,
      )
      const stages = (await runStagesOf(deps.db, restore.run.id)).map((s) => [s.name, s.status])
      expect(stages).toEqual([
        ['test-restore', 'failed'],
        ['cleanup', 'success'],
      ])
      expect(sandboxes()).toEqual([])
      expect(await scratchLeft()).toEqual({ maria: '', pg: '' })
    }, 180_000)
  },
)

describe('scheduling weekly checks and monthly test restores', () => {
  const deps = freshDeps()
  const verifyJobs = async () =>
    (
      await deps.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, 'verify')))
        .orderBy(jobs.id)
    ).map((j) => ({ key: j.dedupeKey, payload: j.payload, runAt: j.runAt }))

  it('enqueues each once, only for policies with a snapshot, and again when its period has passed', async () => {
    const alice = await addTenant(deps, 'alice')
    const bob = await addTenant(deps, 'bob')
    const dA = await localDestination(deps, alice.id)
    const dB = await localDestination(deps, bob.id)
    const pA = { id: await policy(deps, alice.id, [dA.id]) }
    await policy(deps, bob.id, [dB.id]) // never backed up: nothing to verify
    const run = await createRun(deps.db, alice.id, {
      kind: 'backup',
      trigger: 'manual',
      jobId: null,
      policyId: pA.id,
    })
    await finishStage(
      deps.db,
      (await startStage(deps.db, run.id, 'snapshot', dA.id)).id,
      'success',
      {
        snapshotId: 'a'.repeat(64),
      },
    )
    await finishRun(deps.db, run.id, 'success')

    const now = new Date()
    await tickScheduler(deps.db, now)
    const first = await verifyJobs()
    expect(first.map((j) => j.key).sort()).toEqual([
      `verify:check:policy:${pA.id}`,
      `verify:restore:policy:${pA.id}`,
    ])
    expect(
      first.map((j) => j.payload).sort((a, b) => String(a.mode).localeCompare(String(b.mode))),
    ).toEqual([
      { mode: 'check', policyId: pA.id, policyName: 'Nightly', trigger: 'schedule' },
      { mode: 'restore', policyId: pA.id, policyName: 'Nightly', trigger: 'schedule' },
    ])
    for (const j of first) {
      expect(j.runAt.getTime()).toBeGreaterThanOrEqual(now.getTime())
      expect(j.runAt.getTime()).toBeLessThan(now.getTime() + 6 * 3_600_000)
    }
    const state = (
      await deps.db.select().from(scheduleState).where(eq(scheduleState.policyId, pA.id))
    )[0]!
    expect(state.lastCheckAt?.getTime()).toBe(now.getTime())
    expect(state.lastTestRestoreAt?.getTime()).toBe(now.getTime())

    // A second tick, even after the jobs ran, does not queue them twice.
    await tickScheduler(deps.db, new Date(now.getTime() + 60_000))
    await deps.db.update(jobs).set({ status: 'done' }).where(eq(jobs.kind, 'verify'))
    await tickScheduler(deps.db, new Date(now.getTime() + 3 * 86_400_000))
    expect(await verifyJobs()).toHaveLength(2)

    // Eight days on: the weekly check is due again, the monthly restore is not.
    await tickScheduler(deps.db, new Date(now.getTime() + 8 * 86_400_000))
    expect((await verifyJobs()).map((j) => j.key)).toEqual([
      `verify:check:policy:${pA.id}`,
      `verify:restore:policy:${pA.id}`,
      `verify:check:policy:${pA.id}`,
    ])
    // Thirty-one days on: both.
    await deps.db.update(jobs).set({ status: 'done' }).where(eq(jobs.kind, 'verify'))
    await tickScheduler(deps.db, new Date(now.getTime() + 31 * 86_400_000))
    expect(
      (await verifyJobs())
        .map((j) => j.key)
        .slice(3)
        .sort(),
    ).toEqual([`verify:check:policy:${pA.id}`, `verify:restore:policy:${pA.id}`])
  })

  it('queues a test restore from the Overview button, pulling a scheduled one forward; another tenant gets 404', async () => {
    const [alice, bob] = [
      (await deps.db.query.tenants.findFirst({ where: (t, { eq }) => eq(t.name, 'alice') }))!,
      (await deps.db.query.tenants.findFirst({ where: (t, { eq }) => eq(t.name, 'bob') }))!,
    ]
    const pA = (await deps.db.query.policies.findFirst({
      where: (p, { eq }) => eq(p.tenantId, alice.id),
    }))!
    const pB = (await deps.db.query.policies.findFirst({
      where: (p, { eq }) => eq(p.tenantId, bob.id),
    }))!
    const pending = async () =>
      await deps.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, 'verify'), eq(jobs.status, 'queued')))
    expect(
      (await pending())
        .find((j) => j.dedupeKey === `verify:restore:policy:${pA.id}`)!
        .runAt.getTime(),
    ).toBeGreaterThan(Date.now())

    const b = new Client(deps)
    await b.login('bob')
    expect((await b.post(`/backups/policies/${pA.id}/verify`, {})).status).toBe(404)
    const before = (await pending()).length

    const a = new Client(deps)
    await a.login('alice')
    const res = await a.post(`/backups/policies/${pA.id}/verify`, {})
    expect(res.status).toBe(303)
    const page = await a.get(res.location!)
    expect(page.body).toContain(
      'A test restore of this policy is already queued or running; it starts now.',
    )
    expect(page.body).toContain('Test restore now')
    const queued = (await pending()).filter((j) => j.dedupeKey === `verify:restore:policy:${pA.id}`)
    expect(queued).toHaveLength(1)
    expect(queued[0]!.runAt.getTime()).toBeLessThanOrEqual(Date.now())
    expect(await pending()).toHaveLength(before)

    // Bob's own policy has no snapshot yet, but asking is still his to do: the run will say why.
    const own = await b.post(`/backups/policies/${pB.id}/verify`, {})
    expect(own.status).toBe(303)
    expect(await pending()).toHaveLength(before + 1)
  })
})
