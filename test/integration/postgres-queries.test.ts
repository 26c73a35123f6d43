import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { audit } from '../../src/db/audit.ts'
import { listAudit } from '../../src/db/audit-log.ts'
import { backfillTenantHealth, refreshTenantHealth } from '../../src/db/health.ts'
import {
  DEFAULT_HEALTH_QUERY,
  HEALTH_PAGE_SIZE,
  countTenantHealth,
  listTenantHealth,
  tenantHealthOf,
  type HealthQuery,
  type HealthSort,
} from '../../src/db/health-list.ts'
import { panelMetrics } from '../../src/db/metrics.ts'
import { dueNotifications } from '../../src/db/notifications.ts'
import { repositoryFor, setRepositoryStats } from '../../src/db/repositories.ts'
import { queueCounts, queuedInClaimOrder, runningJobs } from '../../src/db/runner-queue.ts'
import { createRun, finishRun, finishStage, startStage } from '../../src/db/runs.ts'
import {
  jobs,
  notifications,
  repositories,
  runs,
  scheduleState,
  snapshots,
  tenantHealth,
  tenants,
  verifications,
  type Run,
} from '../../src/db/schema.ts'
import { saveIndexInSteps } from '../../src/db/snapshot-index.ts'
import { recordSnapshot, safetyCount, searchIndex, syncCatalog } from '../../src/db/snapshots.ts'
import { transaction } from '../../src/db/tx.ts'
import { setTenantDisabled } from '../../src/domain/tenants.ts'
import { createApp } from '../../src/web/app.tsx'
import type { Deps } from '../../src/web/context.ts'
import { addTenant, freshDeps } from '../helpers.ts'
import { requirePostgres, type PostgresServer } from '../services/postgres.ts'
import { panelPostgres, pgDeps } from '../support/panel-postgres.ts'
import { localDestination, policy } from '../support/tenants.ts'

/*
 * The queries that used raw SQL (tenant health, the health list, /metrics, the runner queue,
 * /healthz, the snapshot index search, the audit filter) on PostgreSQL, checked against what
 * the panel shows on SQLite. PostgreSQL by default; `PANEL_QUERIES_ENGINE=sqlite` runs the
 * very same checks on SQLite (one engine per process: useTablesOf switches the tables for all).
 */
const engine = process.env.PANEL_QUERIES_ENGINE === 'sqlite' ? 'sqlite' : 'postgresql'
const runnable = engine === 'sqlite' || requirePostgres()

let pg: { url: string; server: PostgresServer } | undefined
const opened: { close(): Promise<void> }[] = []
let databases = 0

/** A new, empty, migrated panel database on the engine under test. */
async function fresh(): Promise<Deps> {
  if (engine === 'sqlite') return freshDeps()
  const url = new URL(pg!.url)
  const name = `q${++databases}`
  await pg!.server.createDatabase(name, 'panel', decodeURIComponent(url.password))
  url.pathname = `/${name}`
  const deps = await pgDeps(String(url))
  opened.push(deps)
  return deps
}

const HOUR = 3600_000
const NOW = new Date('2030-06-10T12:00:00.000Z')
/** `h` hours before NOW, off the whole second so millisecond precision is checked too. */
const ago = (h: number) => new Date(NOW.getTime() - h * HOUR + 123)

type Finished = 'success' | 'partial' | 'failed' | 'interrupted'

async function addRun(
  deps: Deps,
  tenantId: number,
  status: Finished | 'running',
  at: Date,
  fields: Partial<Pick<Run, 'kind' | 'error' | 'bytes' | 'startedAt'>> = {},
) {
  const values = {
    tenantId,
    kind: 'backup' as const,
    trigger: 'schedule' as const,
    status,
    startedAt: at,
    finishedAt: status === 'running' ? null : at,
    ...fields,
  }
  return (await deps.db.insert(runs).values(values).returning())[0]!
}

/** A tenant row straight in the table (no user, no password hash): fleets stay quick. */
async function bareTenant(deps: Deps, name: string) {
  const row = (
    await deps.db
      .insert(tenants)
      .values({ name, homeDir: `/home/${name}` })
      .returning()
  )[0]!
  return row
}

describe.runIf(runnable)(`raw queries on ${engine}`, () => {
  beforeAll(async () => {
    if (engine === 'postgresql') pg = await panelPostgres()
  }, 60_000)
  afterAll(async () => {
    for (const deps of opened) await deps.close()
    await pg?.server.stop()
  })

  describe('refreshTenantHealth', () => {
    let deps: Deps
    beforeAll(async () => {
      deps = await fresh()
    })
    const health = async (id: number) => (await tenantHealthOf(deps.db, id))!
    const names = async (filter: HealthQuery['filter']) =>
      (await listTenantHealth(deps.db, { ...DEFAULT_HEALTH_QUERY, filter }, NOW)).rows.map(
        (r) => r.name,
      )

    it('gives a new tenant a zero row', async () => {
      const t = await addTenant(deps, 'fresh')
      expect(await health(t.id)).toMatchObject({
        lastRunId: null,
        lastRunAt: null,
        lastSuccessAt: null,
        failingStreak: 0,
        missedCount: 0,
        storedBytes: 0,
        snapshotCount: 0,
        nextRunAt: null,
        lastVerifiedAt: null,
        lastVerifiedOk: null,
      })
      expect(await names('never')).toEqual(['fresh'])
    })

    it('counts failures in a row since the last good backup, to the millisecond', async () => {
      const t = await addTenant(deps, 'streaky')
      await addRun(deps, t.id, 'success', ago(80))
      await addRun(deps, t.id, 'failed', ago(60), { error: 'old failure' })
      await addRun(deps, t.id, 'success', ago(50))
      await addRun(deps, t.id, 'failed', ago(30), { error: 'the bucket does not exist' })
      const cut = await addRun(deps, t.id, 'interrupted', ago(20), { error: 'runner stopped' })
      await addRun(deps, t.id, 'failed', ago(1), { kind: 'restore' }) // not a backup
      await addRun(deps, t.id, 'running', ago(0.5)) // not finished
      await refreshTenantHealth(deps.db, t.id, NOW)
      expect(await health(t.id)).toMatchObject({
        failingStreak: 2,
        lastSuccessAt: ago(50),
        lastRunId: cut.id,
        lastRunAt: ago(20),
        lastRunStatus: 'interrupted',
        lastError: 'runner stopped',
        updatedAt: NOW,
      })
      expect(await names('failing')).toEqual(['streaky'])
      expect(await names('stale')).toEqual(['streaky'])
    })

    it('ends the streak at a partial run, which is not a good backup', async () => {
      const t = await addTenant(deps, 'partly')
      await addRun(deps, t.id, 'failed', ago(5), { error: 'disk full' })
      await addRun(deps, t.id, 'partial', ago(2), { error: '2 files could not be read' })
      await refreshTenantHealth(deps.db, t.id, NOW)
      expect(await health(t.id)).toMatchObject({
        failingStreak: 0,
        lastSuccessAt: null,
        lastRunStatus: 'partial',
        lastError: '2 files could not be read',
      })
    })

    it('sees the runs of the transaction it is called in', async () => {
      const t = await addTenant(deps, 'intx')
      await transaction(deps.db, async (tx) => {
        await addRun({ ...deps, db: tx }, t.id, 'failed', ago(3), { error: 'in the transaction' })
        await refreshTenantHealth(tx, t.id, NOW)
      })
      expect(await health(t.id)).toMatchObject({
        failingStreak: 1,
        lastRunStatus: 'failed',
        lastError: 'in the transaction',
      })
    })

    it('is refreshed by finishRun', async () => {
      const t = await addTenant(deps, 'recovers')
      await addRun(deps, t.id, 'failed', ago(100), { error: 'refused' })
      const live = await createRun(deps.db, t.id, {
        kind: 'backup',
        trigger: 'manual',
        jobId: null,
        policyId: null,
      })
      await finishRun(deps.db, live.id, 'success', { bytes: 10 })
      expect(await health(t.id)).toMatchObject({
        failingStreak: 0,
        lastError: null,
        lastRunStatus: 'success',
        lastRunId: live.id,
      })
    })

    it('sums missed slots of enabled policies, finds the next run, and none when disabled', async () => {
      const t = await addTenant(deps, 'sched')
      const dest = await localDestination(deps, t.id)
      const daily = await policy(deps, t.id, [dest.id], {
        name: 'Daily',
        preset: 'custom',
        cron: '0 3 * * *',
      })
      const hourly = await policy(deps, t.id, [dest.id], {
        name: 'Hourly',
        preset: 'custom',
        cron: '30 * * * *',
      })
      const off = await policy(deps, t.id, [dest.id], {
        name: 'Off',
        preset: 'custom',
        cron: '0 5 * * *',
        enabled: false,
      })
      await deps.db.insert(scheduleState).values([
        { policyId: daily, missedCount: 2 },
        { policyId: hourly, missedCount: 1 },
        { policyId: off, missedCount: 40 },
      ])
      await refreshTenantHealth(deps.db, t.id, NOW)
      expect(await health(t.id)).toMatchObject({
        missedCount: 3,
        nextRunAt: new Date('2030-06-10T12:30:00Z'),
      })
      expect(await names('missed')).toEqual(['sched'])
      await setTenantDisabled(deps.db, t.id, true)
      expect((await health(t.id)).nextRunAt).toBeNull()
      expect(await names('disabled')).toEqual(['sched'])
    })

    it('sums stored bytes over repositories and takes the latest test restore', async () => {
      const t = await addTenant(deps, 'stored')
      const a = await localDestination(deps, t.id, 'a', 'A')
      const b = await localDestination(deps, t.id, 'b', 'B')
      const key = deps.config.secretKey
      await setRepositoryStats(deps.db, (await repositoryFor(deps.db, key, t.id, a.id)).id, {
        storedBytes: 5_000_000_000, // past 2^31: a bigint on PostgreSQL
        snapshotCount: 3,
      })
      await setRepositoryStats(deps.db, (await repositoryFor(deps.db, key, t.id, b.id)).id, {
        storedBytes: 500,
        snapshotCount: 2,
      })
      const v = { tenantId: t.id, durationMs: 10, destinationId: a.id }
      await deps.db.insert(verifications).values([
        { ...v, mode: 'restore', ok: true, createdAt: ago(30) },
        { ...v, mode: 'restore', ok: false, createdAt: ago(3) },
        { ...v, mode: 'check', ok: true, createdAt: ago(1) },
      ])
      await refreshTenantHealth(deps.db, t.id, NOW)
      expect(await health(t.id)).toMatchObject({
        storedBytes: 5_000_000_500,
        snapshotCount: 5,
        lastVerifiedAt: ago(3),
        lastVerifiedOk: false,
      })
    })

    it('backfills tenants that have no health row', async () => {
      const legacy = await bareTenant(deps, 'legacy')
      await addRun(deps, legacy.id, 'success', ago(7))
      expect(await tenantHealthOf(deps.db, legacy.id)).toBeUndefined()
      expect(await backfillTenantHealth(deps.db, NOW)).toBe(1)
      expect(await health(legacy.id)).toMatchObject({ lastSuccessAt: ago(7), failingStreak: 0 })
      expect(await backfillTenantHealth(deps.db, NOW)).toBe(0)
    })
  })

  describe('listTenantHealth and countTenantHealth', () => {
    let deps: Deps
    type Model = {
      id: number
      name: string
      streak: number
      lastSuccess: Date | null
      verified: Date | null
      disabled: boolean
    }
    const fleet: Model[] = []

    // 60 tenants t001..t060 plus a_b and ab1: t001..t020 fail (streak 1-3); every tenth never
    // succeeded; every seventh succeeded 72 h ago; the others i hours ago (t049.. are stale);
    // even ones had a test restore i hours ago; every fifteenth is disabled.
    beforeAll(async () => {
      deps = await fresh()
      const names = [...Array.from({ length: 60 }, (_, k) => `t${String(k + 1).padStart(3, '0')}`)]
      names.push('a_b', 'ab1')
      for (const [k, name] of names.entries()) {
        const i = k + 1
        const t = await bareTenant(deps, name)
        const lastSuccess = i % 10 === 0 ? null : i % 7 === 0 ? ago(72) : ago(i)
        if (lastSuccess) await addRun(deps, t.id, 'success', lastSuccess)
        const streak = i <= 20 ? (i % 3) + 1 : 0
        for (let s = 0; s < streak; s++)
          await addRun(deps, t.id, 'failed', new Date(NOW.getTime() - s * 60_000), {
            error: `${name} failed`,
          })
        const verified = i % 2 === 0 ? ago(i) : null
        if (verified)
          await deps.db.insert(verifications).values({
            tenantId: t.id,
            durationMs: 1,
            mode: 'restore',
            ok: true,
            createdAt: verified,
          })
        const disabled = i % 15 === 0
        if (disabled)
          await deps.db.update(tenants).set({ disabled: true }).where(eq(tenants.id, t.id))
        await refreshTenantHealth(deps.db, t.id, NOW)
        fleet.push({ id: t.id, name, streak, lastSuccess, verified, disabled })
      }
    }, 120_000)

    const list = (q: Partial<HealthQuery>) =>
      listTenantHealth(deps.db, { ...DEFAULT_HEALTH_QUERY, ...q }, NOW)
    /** Every page of a listing, in order. */
    async function allPages(q: Partial<HealthQuery>) {
      const first = await list(q)
      const out = first.rows.map((r) => r.name)
      for (let page = 2; page <= first.pages; page++)
        out.push(...(await list({ ...q, page })).rows.map((r) => r.name))
      return out
    }
    const stale = (m: Model) =>
      m.lastSuccess !== null && m.lastSuccess.getTime() < NOW.getTime() - 48 * HOUR
    const byName = (a: Model, b: Model) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    /** SQLite's order going up: nulls first, then the value, then the tenant id. */
    const upBy = (value: (m: Model) => number | null) => (a: Model, b: Model) => {
      const x = value(a)
      const y = value(b)
      if (x === null || y === null) return x === y ? a.id - b.id : x === null ? -1 : 1
      return x - y || a.id - b.id
    }

    it('pages every tenant by name both ways and clamps a page past the end', async () => {
      const names = [...fleet].sort(byName).map((m) => m.name)
      expect(await allPages({})).toEqual(names)
      expect(await allPages({ dir: 'desc' })).toEqual([...names].reverse())
      const last = await list({ page: 99 })
      expect(last).toMatchObject({ total: 62, page: 2, pages: 2 })
      expect(last.rows.map((r) => r.name)).toEqual(names.slice(HEALTH_PAGE_SIZE))
      expect((await list({})).rows.find((r) => r.name === 't015')).toMatchObject({
        disabled: true,
        node: null,
        failingStreak: 1,
        lastSuccessAt: ago(15),
        lastVerifiedAt: null,
        lastVerifiedOk: null,
      })
    })

    it.each<[HealthSort, (m: Model) => number | null]>([
      ['streak', (m) => m.streak],
      ['last-success', (m) => m.lastSuccess?.getTime() ?? null],
      ['verified', (m) => m.verified?.getTime() ?? null],
    ])('sorts by %s with nulls where SQLite puts them, ties by tenant', async (sort, value) => {
      const up = [...fleet].sort(upBy(value)).map((m) => m.name)
      expect(await allPages({ sort })).toEqual(up)
      expect(await allPages({ sort, dir: 'desc' })).toEqual([...up].reverse())
      // A selective filter (SQLite's `+col` hint) gives the same order.
      const failing = [...fleet]
        .filter((m) => m.streak > 0)
        .sort(upBy(value))
        .map((m) => m.name)
      expect(await allPages({ sort, filter: 'failing' })).toEqual(failing)
      expect(await allPages({ sort, filter: 'failing', dir: 'desc' })).toEqual(
        [...failing].reverse(),
      )
    })

    it('filters failing, stale, never, missed and disabled, and counts each tab', async () => {
      const expected = {
        all: fleet,
        failing: fleet.filter((m) => m.streak > 0),
        stale: fleet.filter(stale),
        never: fleet.filter((m) => m.lastSuccess === null),
        missed: [],
        disabled: fleet.filter((m) => m.disabled),
      }
      for (const [filter, models] of Object.entries(expected)) {
        const names = models.map((m) => m.name).sort()
        expect(await allPages({ filter: filter as HealthQuery['filter'] }), filter).toEqual(names)
      }
      expect(await countTenantHealth(deps.db, DEFAULT_HEALTH_QUERY, NOW)).toEqual(
        Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v.length])),
      )
      expect(expected.stale.length).toBeGreaterThan(5)
      expect(expected.never.length).toBe(6)
    })

    it('searches names ignoring ASCII case, with % and _ taken literally', async () => {
      expect(await allPages({ q: 'T01' })).toEqual(
        fleet
          .filter((m) => m.name.startsWith('t01'))
          .map((m) => m.name)
          .sort(),
      )
      expect(await allPages({ q: '_' })).toEqual(['a_b'])
      expect(await allPages({ q: '%' })).toEqual([])
      expect(await allPages({ q: 't03', filter: 'disabled' })).toEqual(['t030'])
      const counts = await countTenantHealth(deps.db, { ...DEFAULT_HEALTH_QUERY, q: 't00' }, NOW)
      expect(counts).toMatchObject({ all: 9, failing: 9, never: 0, disabled: 0 })
    })
  })

  describe('panelMetrics', () => {
    let deps: Deps
    const now = Date.now()
    let live: Run

    beforeAll(async () => {
      deps = await fresh()
      const db = deps.db
      const tenant = async (name: string, opts: { policy?: boolean; disabled?: boolean } = {}) => {
        const t = await bareTenant(deps, name)
        const dest = await localDestination(deps, t.id)
        if (opts.policy !== false) await policy(deps, t.id, [dest.id])
        if (opts.disabled)
          await db.update(tenants).set({ disabled: true }).where(eq(tenants.id, t.id))
        return { ...t, dest }
      }
      const health = async (tenantId: number, agoH: number | null, failingStreak = 0) => {
        const lastSuccessAt = agoH === null ? null : new Date(now - agoH * HOUR)
        await db
          .insert(tenantHealth)
          .values({ tenantId, lastSuccessAt, failingStreak })
          .onConflictDoUpdate({
            target: tenantHealth.tenantId,
            set: { lastSuccessAt, failingStreak },
          })
      }
      const run = (
        tenantId: number,
        kind: Run['kind'],
        status: Run['status'],
        seconds: number,
        bytes: number | null = null,
        agoH = 1,
      ) =>
        addRun(deps, tenantId, status as Finished, new Date(now - agoH * HOUR), {
          kind,
          bytes,
          startedAt: new Date(now - agoH * HOUR - seconds * 1000),
        })
      const job = (tenantId: number, status: 'queued' | 'running' | 'done') =>
        db
          .insert(jobs)
          .values({ tenantId, kind: 'backup', payload: {}, status, runAt: new Date(now) })

      const alice = await tenant('alice')
      const bob = await tenant('bob')
      const carol = await tenant('carol')
      const dave = await tenant('dave')
      const erin = await tenant('erin', { policy: false })
      const frank = await tenant('frank', { disabled: true })
      await health(alice.id, 3)
      await health(bob.id, 50, 2)
      await health(dave.id, null)
      await health(erin.id, 900)
      await health(frank.id, 800)
      // carol has no health row: her newest successful run (10 h ago) stands in.
      await db.delete(tenantHealth).where(eq(tenantHealth.tenantId, carol.id))
      await run(alice.id, 'backup', 'success', 5, 100)
      await run(alice.id, 'backup', 'success', 20, 200)
      await run(alice.id, 'backup', 'success', 4000, 300)
      await run(alice.id, 'backup', 'failed', 45)
      await run(alice.id, 'backup', 'failed', 700)
      await run(alice.id, 'backup', 'partial', 100, 50)
      await run(alice.id, 'restore', 'success', 30)
      await run(alice.id, 'verify', 'failed', 2.5) // 2.5 s: milliseconds count
      live = await addRun(deps, alice.id, 'running', new Date(now))
      await run(carol.id, 'backup', 'success', 60, 1000, 10)
      await job(alice.id, 'queued')
      await job(bob.id, 'queued')
      await job(carol.id, 'running')
      await job(dave.id, 'done')
      await db.insert(repositories).values([
        {
          tenantId: alice.id,
          destinationId: alice.dest.id,
          passwordSealed: 'x',
          storedBytes: 12_345,
        },
        { tenantId: bob.id, destinationId: bob.dest.id, passwordSealed: 'x', storedBytes: 55 },
      ])
    }, 60_000)

    const count = (m: Awaited<ReturnType<typeof panelMetrics>>, kind: string, status: string) =>
      m.runs.find((r) => r.kind === kind && r.status === status)?.count ?? 0

    it('counts finished runs, their durations and bytes, the queue, freshness and storage', async () => {
      const m = await panelMetrics(deps.db)
      expect(m.runs).toEqual(
        expect.arrayContaining([
          { kind: 'backup', status: 'success', count: 4 },
          { kind: 'backup', status: 'failed', count: 2 },
          { kind: 'backup', status: 'partial', count: 1 },
          { kind: 'restore', status: 'success', count: 1 },
          { kind: 'verify', status: 'failed', count: 1 },
        ]),
      )
      expect(m.runs).toHaveLength(5)
      const backup = m.durations.find((d) => d.kind === 'backup')!
      // 5, 20, 4000, 45, 700, 100, 60 s against 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600.
      expect(backup).toEqual({
        kind: 'backup',
        buckets: [1, 2, 4, 5, 6, 6, 6, 7, 7],
        count: 7,
        sumSeconds: 4930,
      })
      expect(m.durations.find((d) => d.kind === 'verify')).toMatchObject({
        count: 1,
        sumSeconds: 2.5,
      })
      expect(m.backupBytes).toBe(1650)
      expect(m.queue).toEqual({ queued: 2, running: 1 })
      expect(m.oldestGoodBackupAt).toEqual(new Date(now - 50 * HOUR))
      expect(m.neverBackedUp).toBe(1)
      expect(m.failing).toBe(1)
      expect(m.storedBytes).toBe(12_400)
    })

    it('counts runs that finish and runs added after a scrape', async () => {
      await deps.db
        .update(runs)
        .set({ status: 'success', bytes: 7, finishedAt: new Date(now + 1000) })
        .where(eq(runs.id, live.id))
      const bob = (await deps.db.select().from(tenants).where(eq(tenants.name, 'bob')))[0]!
      await addRun(deps, bob.id, 'failed', new Date(now))
      await addRun(deps, bob.id, 'running', new Date(now))
      const m = await panelMetrics(deps.db)
      expect(count(m, 'backup', 'success')).toBe(5)
      expect(count(m, 'backup', 'failed')).toBe(3)
      expect(m.backupBytes).toBe(1657)
      await addRun(deps, bob.id, 'interrupted', new Date(now))
      const again = await panelMetrics(deps.db)
      expect(count(again, 'backup', 'interrupted')).toBe(1)
      expect(count(again, 'backup', 'success')).toBe(5)
    })
  })

  describe('the runner queue and /healthz', () => {
    let deps: Deps
    const now = new Date()
    const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000)
    const ids: Record<string, number> = {}

    beforeAll(async () => {
      deps = await fresh()
      const db = deps.db
      const t: Record<string, number> = {}
      for (const name of ['alice', 'bob', 'carol', 'dave', 'erin', 'fay'])
        t[name] = (await bareTenant(deps, name)).id
      await db.update(tenants).set({ disabled: true }).where(eq(tenants.id, t.dave!))
      const shop = await policy(deps, t.bob!, [(await localDestination(deps, t.bob!)).id], {
        name: 'Shop files',
      })
      const job = async (
        name: string,
        tenant: string,
        values: Partial<typeof jobs.$inferInsert> = {},
      ) => {
        const row = (
          await db
            .insert(jobs)
            .values({
              tenantId: t[tenant]!,
              kind: 'backup',
              payload: { policyId: 0, trigger: 'schedule' },
              runAt: at(-5),
              createdAt: at(-5),
              updatedAt: at(-5),
              ...values,
            })
            .returning()
        )[0]!
        ids[name] = row.id
      }
      // carol ran a job a minute ago, fay two minutes ago: bob (never ran) goes first.
      await job('carolOld', 'carol', { status: 'done', updatedAt: at(-1) })
      await job('fayOld', 'fay', { status: 'failed', updatedAt: at(-2) })
      await job('carol', 'carol', { runAt: at(-3) })
      await job('fay', 'fay', { runAt: at(-1) })
      await job('bob', 'bob', { kind: 'verify', payload: { trigger: 'manual', policyId: shop } })
      await job('alice', 'alice', { runAt: at(80) }) // later
      await job('dave', 'dave', { runAt: at(-10) }) // disabled
      await job('erinRunning', 'erin', {
        status: 'running',
        payload: { policyId: shop, trigger: 'schedule' }, // another tenant's policy: no name
        leaseOwner: 'host-a:1:test',
        updatedAt: at(-4),
      })
      await job('erin', 'erin', { runAt: at(-20) }) // busy
    })

    it('lists the queue in claim order with why each job waits', async () => {
      const queue = await queuedInClaimOrder(deps.db, now)
      expect(queue.map((j) => [j.id, j.tenantName, j.wait])).toEqual([
        [ids.bob, 'bob', null],
        [ids.fay, 'fay', null],
        [ids.carol, 'carol', null],
        [ids.erin, 'erin', 'busy'], // jobs that wait follow by due time
        [ids.dave, 'dave', 'disabled'],
        [ids.alice, 'alice', 'later'],
      ])
      expect(queue[0]).toMatchObject({
        kind: 'verify',
        policyName: 'Shop files',
        payload: { trigger: 'manual' },
      })
      expect(queue[1]!.policyName).toBeNull() // policy 0
      expect(queue[0]!.runAt).toEqual(at(-5))
      expect((await queuedInClaimOrder(deps.db, now, 2)).map((j) => j.id)).toEqual([
        ids.bob,
        ids.fay,
      ])
      // Two hours on, alice's job is due too: her tenant never ran one, so it goes right after
      // bob's (due earlier).
      const later = await queuedInClaimOrder(deps.db, at(120))
      expect(later.map((j) => [j.id, j.wait])).toEqual([
        [ids.bob, null],
        [ids.alice, null],
        [ids.fay, null],
        [ids.carol, null],
        [ids.erin, 'busy'],
        [ids.dave, 'disabled'],
      ])
    })

    it('counts queued and due jobs, and names running ones', async () => {
      expect(await queueCounts(deps.db, now)).toEqual({ queued: 6, due: 5 })
      expect(await queueCounts(deps.db, at(80))).toEqual({ queued: 6, due: 6 })
      expect(await queueCounts(deps.db, at(-30))).toEqual({ queued: 6, due: 0 })
      const running = await runningJobs(deps.db)
      expect(running.map((j) => [j.id, j.tenantName, j.policyName, j.run])).toEqual([
        [ids.erinRunning, 'erin', null, null],
      ])
    })

    it('answers GET /healthz with 200 and a database that answers', async () => {
      const res = await createApp(deps).request('/healthz')
      const body = (await res.json()) as { status: string; checks: Record<string, unknown> }
      expect(res.status).toBe(200)
      expect(body.status).toBe('ok')
      expect(body.checks.database).toEqual({ ok: true })
      expect(body.checks.runner).toMatchObject({ ok: true, expected: false, runners: [] })
    })
  })

  describe('snapshots and the audit log', () => {
    let deps: Deps
    let tenantId: number
    let destinationId: number
    beforeAll(async () => {
      deps = await fresh()
      tenantId = (await bareTenant(deps, 'snap')).id
      destinationId = (await localDestination(deps, tenantId)).id
    })

    it('counts safety snapshots as a number', async () => {
      expect(await safetyCount(deps.db, tenantId)).toBe(0)
      await recordSnapshot(deps.db, tenantId, destinationId, {
        id: 'aa'.repeat(32),
        time: NOW.toISOString(),
        tags: ['safety'],
        paths: ['/home/snap'],
        complete: true,
      })
      expect(await safetyCount(deps.db, tenantId)).toBe(1)
    })

    it('searches the file index ignoring the case of ASCII letters only', async () => {
      const row = await recordSnapshot(deps.db, tenantId, destinationId, {
        id: 'bb'.repeat(32),
        time: NOW.toISOString(),
        tags: ['policy:1'],
        paths: ['/home/snap'],
        complete: true,
      })
      const node = (name: string) => ({
        parent: '/home/snap',
        name,
        type: 'file' as const,
        size: 1,
        mtime: null,
        lossy: false,
      })
      const files = [
        'Report.PDF',
        'report.txt',
        'Ünïcode.txt',
        'ünïcode.md',
        '100%_done',
        '100xxdone',
      ]
      await saveIndexInSteps(deps.db, row.id, files.map(node), { files: files.length, bytes: 6 })
      const found = async (q: string) =>
        (await searchIndex(deps.db, row.id, q)).map((n) => n.name).sort()
      expect(await found('REPORT')).toEqual(['Report.PDF', 'report.txt'])
      expect(await found('ü')).toEqual(['ünïcode.md']) // SQLite folds ASCII letters only
      expect(await found('%_')).toEqual(['100%_done'])
    })

    it('marks a snapshot incomplete when its run recorded the stage as partial', async () => {
      const repo = await repositoryFor(deps.db, deps.config.secretKey, tenantId, destinationId)
      const run = await addRun(deps, tenantId, 'partial', ago(1))
      const stage = await startStage(deps.db, run.id, 'snapshot', destinationId)
      // restic 0.14 recorded the short id.
      await finishStage(deps.db, stage.id, 'partial', { snapshotId: 'cc'.repeat(4) })
      const listed = (id: string) => ({
        id,
        time: NOW.toISOString(),
        tags: ['policy:1'],
        paths: ['/home/snap'],
      })
      await syncCatalog(deps.db, tenantId, destinationId, repo.id, [
        listed('cc'.repeat(32)),
        listed('dd'.repeat(32)),
      ])
      const rows = await deps.db.select().from(snapshots).where(eq(snapshots.tenantId, tenantId))
      const complete = Object.fromEntries(rows.map((r) => [r.snapshotId.slice(0, 2), r.complete]))
      expect(complete).toEqual({ cc: false, dd: true })
    })

    it('filters the audit log by action prefix', async () => {
      for (const action of ['login.ok', 'login.failed', 'logins.other', 'login', 'backup.start'])
        await audit(deps.db, { actor: 'boss', action, tenantId })
      const actions = async (action: string) =>
        (await listAudit(deps.db, 'all', { action })).rows.map((r) => r.action).sort()
      expect(await actions('login.')).toEqual(['login.failed', 'login.ok'])
      expect(await actions('login')).toEqual(['login', 'login.failed', 'login.ok', 'logins.other'])
      expect(await actions('backup.start')).toEqual(['backup.start'])
      expect(await listAudit(deps.db, { tenantId }, { action: 'nothing.' })).toMatchObject({
        rows: [],
        newer: null,
        older: null,
      })
    })
  })

  describe('times the database writes', () => {
    it('never stamps a row later than the clock that reads it straight after', async () => {
      // PostgreSQL rounds now() to the millisecond: up to half of one ahead of Date.now(), so a
      // notice written and delivered in the same millisecond was not yet due (CI, stop 18).
      const deps = await fresh()
      const { id: tenantId } = await bareTenant(deps, 'clock')
      const ahead: number[] = []
      for (let i = 0; i < 300; i++) {
        const row = (
          await deps.db
            .insert(notifications)
            .values({
              tenantId,
              channel: 'email',
              recipient: 'a@b.c',
              event: 'test',
              subject: 's',
              body: 'b',
            })
            .returning()
        )[0]!
        const read = Date.now()
        if (row.createdAt.getTime() > read) ahead.push(row.createdAt.getTime() - read)
      }
      expect(ahead).toEqual([])
      const due = await dueNotifications(deps.db, Date.now(), 30_000, 1000)
      expect(due.length).toBe(300)
    })
  })
})
