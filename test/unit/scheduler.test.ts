import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { eq } from 'drizzle-orm'
import { beforeEach, describe, expect, it } from 'vitest'
import { freshDeps } from '../helpers.ts'
import { openDb } from '../../src/db/client.ts'
import { closePostgres } from '../../src/db/dialect.ts'
import { connectPostgres } from '../../src/db/pg.ts'
import { jobs, policies, scheduleState, tenants } from '../../src/db/schema.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { newPolicyInput, savePolicy } from '../../src/domain/policies.ts'
import { spreadMs, tickScheduler } from '../../src/runner/scheduler.ts'

const deps = freshDeps()
const { db } = deps
const MIN = 60_000
const DAY = 24 * 60 * MIN
const CREATED = new Date('2030-06-01T12:00:00Z')
// 03:00 in Berlin (CEST, UTC+2) on 2 June 2030
const SLOT = new Date('2030-06-02T01:00:00Z')
const after = (ms: number) => new Date(SLOT.getTime() + ms)
let seq = 0

async function tenant(disabled = false) {
  const name = `t${++seq}`
  const id = (
    await db
      .insert(tenants)
      .values({ name, homeDir: `/home/${name}`, disabled })
      .returning()
  )[0].id
  const dest = await saveDestination(
    { ...deps, secretKey: deps.config.secretKey },
    id,
    'local',
    null,
    {
      name: 'L',
      settings: { folder: 'x' },
    },
  )
  return { id, dest: dest.id }
}

async function policy(
  opts: { cron?: string; tz?: string; enabled?: boolean; disabledTenant?: boolean } = {},
) {
  const t = await tenant(opts.disabledTenant)
  const id = await savePolicy(db, t.id, null, {
    ...newPolicyInput(opts.tz ?? 'Europe/Berlin'),
    name: `p${seq}`,
    preset: 'custom',
    cron: opts.cron ?? '0 3 * * *',
    destinationIds: [t.dest],
    enabled: opts.enabled ?? true,
  })
  await db
    .update(policies)
    .set({ createdAt: CREATED, updatedAt: CREATED })
    .where(eq(policies.id, id))
  return id
}

const jobsOf = async (policyId: number) =>
  (await db.select().from(jobs).orderBy(jobs.id)).filter((j) => j.payload.policyId === policyId)
const stateOf = async (policyId: number) =>
  (await db.select().from(scheduleState).where(eq(scheduleState.policyId, policyId)))[0]
const finish = async (policyId: number) =>
  await db
    .update(jobs)
    .set({ status: 'done' })
    .where(eq(jobs.dedupeKey, `backup:policy:${policyId}`))

beforeEach(async () => {
  await db.delete(policies) // each test sees only its own policies
  await db.delete(jobs)
})

describe('tickScheduler', () => {
  it('enqueues one job at a daily Berlin slot, once', async () => {
    const p = await policy()
    expect(await tickScheduler(db, after(-1000))).toEqual({ enqueued: 0, missed: 0 })
    expect(await jobsOf(p)).toEqual([])
    expect(await tickScheduler(db, SLOT)).toEqual({ enqueued: 1, missed: 0 })
    expect(await tickScheduler(db, after(30_000))).toEqual({ enqueued: 0, missed: 0 })
    const [job, ...rest] = await jobsOf(p)
    expect(rest).toEqual([])
    expect(job).toMatchObject({
      kind: 'backup',
      status: 'queued',
      dedupeKey: `backup:policy:${p}`,
      payload: { policyId: p, trigger: 'schedule', slot: SLOT.toISOString() },
    })
    expect(job!.runAt.getTime() - SLOT.getTime()).toBe(spreadMs(p, DAY))
    expect(await stateOf(p)).toMatchObject({ lastSlotAt: SLOT, missedCount: 0, lastMissedAt: null })
  })

  it('enqueues once when two processes tick at the same moment', async () => {
    const p = await policy()
    const script = `
      const { openDatabase } = await import(${JSON.stringify(new URL('../../src/db/client.ts', import.meta.url).href)})
      const { closePostgres } = await import(${JSON.stringify(new URL('../../src/db/dialect.ts', import.meta.url).href)})
      const s = await import(${JSON.stringify(new URL('../../src/runner/scheduler.ts', import.meta.url).href)})
      const db = await openDatabase(JSON.parse(process.argv[1]))
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]) - Date.now())
      console.log(JSON.stringify(await s.tickScheduler(db, new Date(${SLOT.getTime() + 5000}))))
      await closePostgres(db)`
    const start = String(Date.now() + 2000)
    const { databaseUrl, dbPath, dataDir } = deps.config
    const where = JSON.stringify({ databaseUrl, dbPath, dataDir })
    const args = ['--import', 'tsx', '--input-type=module', '-e', script, where, start]
    const run = promisify(execFile)
    const outs = await Promise.all([run('node', args), run('node', args)])
    const results = outs.map((o) => JSON.parse(o.stdout) as { enqueued: number })
    expect(results.map((r) => r.enqueued).sort()).toEqual([0, 1])
    expect(await jobsOf(p)).toHaveLength(1)
  })

  it('enqueues once across two connections', async () => {
    const p = await policy()
    const url = deps.config.databaseUrl
    const other = url ? connectPostgres(url) : openDb(deps.config.dbPath)
    expect((await tickScheduler(other, after(1000))).enqueued).toBe(1)
    expect((await tickScheduler(db, after(1000))).enqueued).toBe(0)
    if (url) await closePostgres(other)
    else other.$client.close()
    expect(await jobsOf(p)).toHaveLength(1)
  })

  it('does not backfill slots from before the policy existed', async () => {
    const p = await policy()
    expect(await tickScheduler(db, new Date('2030-06-01T13:00:00Z'))).toEqual({
      enqueued: 0,
      missed: 0,
    })
    expect(await jobsOf(p)).toEqual([])
  })

  it('records the slots missed in a 3-day gap and still runs the latest', async () => {
    const p = await policy()
    await tickScheduler(db, SLOT)
    await finish(p)
    expect(await tickScheduler(db, after(3 * DAY + 5 * MIN))).toEqual({ enqueued: 1, missed: 2 })
    expect(await stateOf(p)).toMatchObject({
      lastSlotAt: after(3 * DAY),
      missedCount: 2,
      lastMissedAt: after(2 * DAY),
    })
    await finish(p)
    // seen two hours late: that slot counts as missed too, and still runs
    expect(await tickScheduler(db, after(4 * DAY + 120 * MIN))).toEqual({ enqueued: 1, missed: 1 })
    expect(await stateOf(p)).toMatchObject({ missedCount: 3, lastMissedAt: after(4 * DAY) })
    expect((await jobsOf(p)).map((j) => j.payload.slot)).toEqual([
      SLOT.toISOString(),
      after(3 * DAY).toISOString(),
      after(4 * DAY).toISOString(),
    ])
  })

  it('spreads policies sharing a slot within min(10 min, interval / 4)', async () => {
    const offsets = Array.from({ length: 50 }, (_, i) => spreadMs(i + 1, DAY))
    expect(new Set(offsets).size).toBeGreaterThan(45)
    for (const o of offsets) expect(o).toBeGreaterThanOrEqual(0)
    expect(Math.max(...offsets)).toBeLessThan(10 * MIN)
    expect(Math.max(...offsets)).toBeGreaterThan(5 * MIN)
    for (let i = 1; i <= 50; i++) expect(spreadMs(i, 4 * MIN)).toBeLessThan(MIN)
    expect(spreadMs(7, DAY)).toBe(spreadMs(7, DAY))

    const [a, b] = [await policy(), await policy()]
    await tickScheduler(db, SLOT)
    const [ja, jb] = [(await jobsOf(a))[0]!, (await jobsOf(b))[0]!]
    expect(ja.runAt.getTime()).not.toBe(jb.runAt.getTime())
    for (const j of [ja, jb]) expect(j.runAt.getTime() - SLOT.getTime()).toBeLessThan(10 * MIN)
  })

  it('enqueues nothing for a disabled policy or tenant, and does not catch up later', async () => {
    const off = await policy({ enabled: false })
    const offTenant = await policy({ disabledTenant: true })
    expect(await tickScheduler(db, SLOT)).toEqual({ enqueued: 0, missed: 0 })
    expect(await tickScheduler(db, after(DAY))).toEqual({ enqueued: 0, missed: 0 })
    expect(await jobsOf(off)).toEqual([])
    expect(await jobsOf(offTenant)).toEqual([])
    await db.update(tenants).set({ disabled: false })
    expect(await tickScheduler(db, after(DAY + MIN))).toEqual({ enqueued: 0, missed: 0 })
    expect(await tickScheduler(db, after(2 * DAY))).toEqual({ enqueued: 1, missed: 0 })
  })

  it('does not fire an edited schedule for slots before the edit', async () => {
    const p = await policy()
    await tickScheduler(db, SLOT)
    await finish(p)
    // at 10:00 UTC the schedule changes to 05:00 Berlin (03:00 UTC), already past today
    await db
      .update(policies)
      .set({ schedule: '0 5 * * *', updatedAt: after(9 * 60 * MIN) })
      .where(eq(policies.id, p))
    expect(await tickScheduler(db, after(9 * 60 * MIN + MIN))).toEqual({ enqueued: 0, missed: 0 })
    expect(await tickScheduler(db, after(DAY + 2 * 60 * MIN))).toEqual({ enqueued: 1, missed: 0 })
  })
})
