import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { addTenant, freshDeps } from '../helpers.ts'
import { refreshTenantHealth } from '../../src/db/health.ts'
import { listTenantHealth, tenantHealthOf, DEFAULT_HEALTH_QUERY } from '../../src/db/health-list.ts'
import { repositoryFor, setRepositoryStats } from '../../src/db/repositories.ts'
import { createRun, finishRun } from '../../src/db/runs.ts'
import {
  policies,
  runs,
  scheduleState,
  tenantHealth,
  tenants,
  verifications,
} from '../../src/db/schema.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { newPolicyInput, savePolicy } from '../../src/domain/policies.ts'
import { setTenantDisabled } from '../../src/domain/tenants.ts'
import { tickScheduler } from '../../src/runner/scheduler.ts'
import { setAdminSetting } from '../../src/db/settings.ts'

const deps = freshDeps()
// One policy below runs every five minutes: lift the default one-hour minimum.
await setAdminSetting(deps.db, 'minIntervalMinutes', 0)
const { db } = deps
const HOUR = 3600_000
const NOW = new Date('2030-06-10T12:00:00Z')
const ago = (h: number) => new Date(NOW.getTime() - h * HOUR)

/** A finished backup run at a chosen time, as the engine would leave it. */
async function run(
  tenantId: number,
  status: 'success' | 'partial' | 'failed' | 'interrupted',
  at: Date,
  error: string | null = null,
) {
  return (
    await db
      .insert(runs)
      .values({
        tenantId,
        kind: 'backup',
        trigger: 'schedule',
        status,
        error,
        startedAt: at,
        finishedAt: at,
      })
      .returning()
  )[0]
}

const health = async (tenantId: number) => (await tenantHealthOf(db, tenantId))!
const names = async (filter: (typeof DEFAULT_HEALTH_QUERY)['filter']) =>
  (await listTenantHealth(db, { ...DEFAULT_HEALTH_QUERY, filter }, NOW)).rows.map((r) => r.name)

async function withPolicy(tenantId: number, cron: string, enabled = true, name = 'Nightly') {
  const dest = await saveDestination(
    { ...deps, secretKey: deps.config.secretKey },
    tenantId,
    'local',
    null,
    {
      name: `L-${name}`,
      settings: { folder: name.toLowerCase() },
    },
  )
  const id = await savePolicy(db, tenantId, null, {
    ...newPolicyInput('UTC'),
    name,
    preset: 'custom',
    cron,
    destinationIds: [dest.id],
    enabled,
  })
  return { policyId: id, destinationId: dest.id }
}

describe('refreshTenantHealth', () => {
  it('gives a new tenant a zero row: never backed up, nothing stored, nothing scheduled', async () => {
    const t = await addTenant(deps, 'fresh')
    expect(await health(t.id)).toMatchObject({
      lastRunId: null,
      lastSuccessAt: null,
      failingStreak: 0,
      missedCount: 0,
      storedBytes: 0,
      nextRunAt: null,
      lastVerifiedAt: null,
    })
    expect(await names('never')).toContain('fresh')
    expect(await names('failing')).not.toContain('fresh')
  })

  it('counts failed and interrupted backups in a row since the last good one, with the last reason', async () => {
    const t = await addTenant(deps, 'streaky')
    await run(t.id, 'success', ago(80))
    await run(t.id, 'failed', ago(60), 'old failure before a success')
    await run(t.id, 'success', ago(50))
    await run(t.id, 'failed', ago(30), 'Nightly S3: the bucket does not exist.')
    const cut = await run(
      t.id,
      'interrupted',
      ago(20),
      'The runner stopped during this run (crash or restart); it was retried.',
    )
    // A restore failing is not a backup failing.
    await db.insert(runs).values({
      tenantId: t.id,
      kind: 'restore',
      trigger: 'manual',
      status: 'failed',
      finishedAt: ago(1),
    })
    await refreshTenantHealth(db, t.id, NOW)
    const h = await health(t.id)
    expect(h.failingStreak).toBe(2)
    expect(h.lastSuccessAt).toEqual(ago(50))
    expect(h.lastRunId).toBe(cut.id)
    expect(h.lastRunStatus).toBe('interrupted')
    expect(h.lastError).toMatch(/runner stopped/)
    // 50 h since the last good backup: stale, failing, not "never".
    expect(await names('failing')).toContain('streaky')
    expect(await names('stale')).toContain('streaky')
    expect(await names('never')).not.toContain('streaky')
  })

  it('ends the streak at a partial run, which is still not a good backup', async () => {
    const t = await addTenant(deps, 'partly')
    await run(t.id, 'failed', ago(5), 'disk full')
    await run(t.id, 'partial', ago(2), '2 file(s) could not be read')
    await refreshTenantHealth(db, t.id, NOW)
    expect(await health(t.id)).toMatchObject({
      failingStreak: 0,
      lastSuccessAt: null,
      lastRunStatus: 'partial',
      lastError: '2 file(s) could not be read',
    })
  })

  it('is refreshed by finishRun: a success clears the streak and the stale mark', async () => {
    const t = await addTenant(deps, 'recovers')
    await run(t.id, 'failed', ago(100), 'refused')
    await refreshTenantHealth(db, t.id, NOW)
    expect((await health(t.id)).failingStreak).toBe(1)
    const live = await createRun(db, t.id, {
      kind: 'backup',
      trigger: 'manual',
      jobId: null,
      policyId: null,
    })
    const before = Date.now()
    await finishRun(db, live.id, 'success', { bytes: 10 })
    const after = Date.now()
    const h = await health(t.id)
    expect(h).toMatchObject({
      failingStreak: 0,
      lastError: null,
      lastRunStatus: 'success',
      lastRunId: live.id,
    })
    expect(h.lastSuccessAt!.getTime()).toBeGreaterThanOrEqual(before)
    expect(h.lastSuccessAt!.getTime()).toBeLessThanOrEqual(after)
  })

  it('sums missed slots of enabled policies only and finds the earliest next run', async () => {
    const t = await addTenant(deps, 'sched')
    const daily = await withPolicy(t.id, '0 3 * * *', true, 'Daily')
    const hourly = await withPolicy(t.id, '30 * * * *', true, 'Hourly')
    const off = await withPolicy(t.id, '*/5 * * * *', false, 'Off')
    await db.insert(scheduleState).values({ policyId: daily.policyId, missedCount: 2 })
    await db.insert(scheduleState).values({ policyId: hourly.policyId, missedCount: 1 })
    await db.insert(scheduleState).values({ policyId: off.policyId, missedCount: 40 })
    await refreshTenantHealth(db, t.id, NOW)
    expect((await health(t.id)).missedCount).toBe(3)
    // 12:00 UTC: the hourly policy's 12:30 comes before the daily 03:00; the 5-minute one is off.
    expect((await health(t.id)).nextRunAt).toEqual(new Date('2030-06-10T12:30:00Z'))
    expect(await names('missed')).toContain('sched')
    await setTenantDisabled(db, t.id, true)
    expect((await health(t.id)).nextRunAt).toBeNull()
    expect(await names('disabled')).toEqual(['sched'])
  })

  it('follows the scheduler: missed slots and the next slot after a tick', async () => {
    const t = await addTenant(deps, 'ticked')
    const { policyId } = await withPolicy(t.id, '0 * * * *', true, 'Hourly')
    const created = ago(5.5)
    await db
      .update(policies)
      .set({ createdAt: created, updatedAt: created })
      .where(eq(policies.id, policyId))
    await tickScheduler(db, NOW)
    const h = await health(t.id)
    expect(h.missedCount).toBe(5) // created 06:30: 07:00..11:00 skipped, 12:00 enqueued on time
    expect(h.nextRunAt).toEqual(new Date('2030-06-10T13:00:00Z'))
  })

  it('adds rows for tenants that had none when the scheduler ticks', async () => {
    const row = (
      await db.insert(tenants).values({ name: 'legacy', homeDir: '/home/legacy' }).returning()
    )[0]
    expect(await tenantHealthOf(db, row.id)).toBeUndefined()
    await tickScheduler(db, NOW)
    expect(await tenantHealthOf(db, row.id)).toMatchObject({
      failingStreak: 0,
      lastSuccessAt: null,
    })
  })

  it('sums stored bytes over repositories and takes the latest test restore', async () => {
    const t = await addTenant(deps, 'stored')
    const a = await withPolicy(t.id, '0 3 * * *', true, 'A')
    const b = await withPolicy(t.id, '0 4 * * *', true, 'B')
    await setRepositoryStats(
      db,
      (await repositoryFor(db, deps.config.secretKey, t.id, a.destinationId)).id,
      {
        storedBytes: 1000,
        snapshotCount: 3,
      },
    )
    await setRepositoryStats(
      db,
      (await repositoryFor(db, deps.config.secretKey, t.id, b.destinationId)).id,
      {
        storedBytes: 500,
        snapshotCount: 2,
      },
    )
    const verify = {
      tenantId: t.id,
      durationMs: 10,
      policyId: a.policyId,
      destinationId: a.destinationId,
    }
    await db
      .insert(verifications)
      .values({ ...verify, mode: 'restore', ok: true, createdAt: ago(30) })
    await db
      .insert(verifications)
      .values({ ...verify, mode: 'restore', ok: false, createdAt: ago(3) })
    await db.insert(verifications).values({ ...verify, mode: 'check', ok: true, createdAt: ago(1) })
    await refreshTenantHealth(db, t.id, NOW)
    expect(await health(t.id)).toMatchObject({
      storedBytes: 1500,
      snapshotCount: 5,
      lastVerifiedAt: ago(3),
      lastVerifiedOk: false,
    })
  })

  it('keeps exactly one row per tenant however often it runs', async () => {
    const t = await addTenant(deps, 'once')
    for (let i = 0; i < 3; i++) await refreshTenantHealth(db, t.id, NOW)
    expect(
      await db.select().from(tenantHealth).where(eq(tenantHealth.tenantId, t.id)),
    ).toHaveLength(1)
  })
})
