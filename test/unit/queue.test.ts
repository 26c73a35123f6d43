import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { eq } from 'drizzle-orm'
import { beforeEach, describe, expect, it } from 'vitest'
import { freshDeps } from '../helpers.ts'
import { openDb, type Db } from '../../src/db/client.ts'
import { closePostgres } from '../../src/db/dialect.ts'
import { connectPostgres } from '../../src/db/pg.ts'
import { jobs, runs, tenants } from '../../src/db/schema.ts'
import {
  backoffSeconds,
  claimJob,
  completeJob,
  countRunning,
  enqueue,
  failJob,
  getJob,
  getRunnerSetting,
  heartbeat,
  listQueue,
  setRunnerSetting,
} from '../../src/db/jobs.ts'

const deps = freshDeps()
const db = deps.db
const T0 = new Date('2030-01-01T00:00:00Z')
const at = (s: number) => new Date(T0.getTime() + s * 1000)
let seq = 0

async function tenant(name = `t${++seq}`, disabled = false) {
  return (
    await db
      .insert(tenants)
      .values({ name, homeDir: `/home/${name}`, disabled })
      .returning()
  )[0].id
}

function job(
  tenantId: number,
  extra: { dedupeKey?: string; runAt?: Date; maxAttempts?: number } = {},
) {
  return enqueue(db, { kind: 'backup', tenantId, payload: { policyId: 1 }, runAt: T0, ...extra })
}

/** Claims (at `now`) until nothing is due, completing each job; returns the tenants in order. */
async function drain(now: Date) {
  const order: number[] = []
  for (let i = 1; ; i++) {
    const j = await claimJob(db, 'w', 60_000, new Date(now.getTime() + i * 1000))
    if (!j) return order
    order.push(j.tenantId)
    await completeJob(db, j.id, 'w', new Date(now.getTime() + i * 1000 + 500))
  }
}

beforeEach(async () => {
  await db.delete(jobs) // each test starts from an empty queue
})

describe('enqueue', () => {
  it('dedupes two triggers at once, then allows a new job once the first finished', async () => {
    const t = await tenant()
    const a = await job(t, { dedupeKey: 'backup:policy:1' })
    const b = await job(t, { dedupeKey: 'backup:policy:1' })
    expect(a.created).toBe(true)
    expect(b).toEqual({ job: a.job, created: false })
    expect((await job(t, { dedupeKey: 'backup:policy:2' })).created).toBe(true)
    const claimed = (await claimJob(db, 'w', 1000, at(1)))!
    expect(claimed.id).toBe(a.job.id)
    expect((await job(t, { dedupeKey: 'backup:policy:1' })).created).toBe(false) // running still holds it
    await completeJob(db, claimed.id, 'w')
    const c = await job(t, { dedupeKey: 'backup:policy:1' })
    expect(c.created).toBe(true)
    expect(c.job.id).not.toBe(a.job.id)
  })

  it('getJob is tenant-scoped', async () => {
    const [t1, t2] = [await tenant(), await tenant()]
    const { job: j } = await job(t1)
    expect((await getJob(db, t1, j.id)).id).toBe(j.id)
    await expect(getJob(db, t2, j.id)).rejects.toThrow(/does not exist/)
  })
})

describe('claim', () => {
  it('alternates between tenants with many jobs each', async () => {
    const [a, b] = [await tenant(), await tenant()]
    for (let i = 0; i < 4; i++) await job(a)
    for (let i = 0; i < 4; i++) await job(b)
    expect(await drain(at(10))).toEqual([a, b, a, b, a, b, a, b])
  })

  it('runs one job at a time per tenant and skips disabled tenants and future jobs', async () => {
    const [a, b, off] = [await tenant(), await tenant(), await tenant(undefined, true)]
    await job(a)
    await job(a)
    await job(off)
    await job(b, { runAt: at(100) })
    const first = (await claimJob(db, 'w', 3_600_000, at(1)))!
    expect(first.tenantId).toBe(a)
    expect(first).toMatchObject({ status: 'running', attempts: 1, leaseOwner: 'w' })
    expect(await claimJob(db, 'w', 3_600_000, at(2))).toBeNull()
    expect(await countRunning(db)).toBe(1)
    expect((await listQueue(db)).map((j) => j.status)).toEqual([
      'running',
      'queued',
      'queued',
      'queued',
    ])
    expect((await claimJob(db, 'w', 3_600_000, at(101)))!.tenantId).toBe(b)
    await completeJob(db, first.id, 'w')
    expect((await claimJob(db, 'w', 3_600_000, at(102)))!.tenantId).toBe(a)
    expect(await claimJob(db, 'w', 3_600_000, at(103))).toBeNull()
  })

  it('returns expired leases and marks their running runs interrupted', async () => {
    const t = await tenant()
    const { job: j } = await job(t)
    const claimed = (await claimJob(db, 'dead', 30_000, at(0)))!
    const run = (
      await db
        .insert(runs)
        .values({ tenantId: t, jobId: j.id, kind: 'backup', trigger: 'manual', status: 'running' })
        .returning()
    )[0]
    expect(await claimJob(db, 'w', 30_000, at(29))).toBeNull() // lease still valid
    const again = (await claimJob(db, 'w', 30_000, at(31)))!
    expect(again).toMatchObject({ id: claimed.id, attempts: 2, leaseOwner: 'w' })
    expect(again.lastError).toMatch(/^interrupted/)
    const r = (await db.select().from(runs).where(eq(runs.id, run.id)))[0]!
    expect(r.status).toBe('interrupted')
    expect(r.error).toBe('The runner stopped during this run (crash or restart); it was retried.')
    expect(r.finishedAt).toEqual(at(31))
    expect(await heartbeat(db, j.id, 'dead', 30_000)).toBe(false)
    expect(await completeJob(db, j.id, 'dead')).toBe(false)
  })

  it('gives up on a job whose every attempt ended with an expired lease', async () => {
    const t = await tenant()
    const { job: j } = await job(t, { maxAttempts: 2 })
    await claimJob(db, 'dead-1', 10_000, at(0))
    await claimJob(db, 'dead-2', 10_000, at(11))
    const run = (
      await db
        .insert(runs)
        .values({ tenantId: t, jobId: j.id, kind: 'backup', trigger: 'manual', status: 'running' })
        .returning()
    )[0]
    const gaveUp: number[] = []
    expect(
      await claimJob(db, 'w', 10_000, at(22), (g) => {
        gaveUp.push(g.id)
      }),
    ).toBeNull()
    // Told once, so the runner can report a failure nobody else would.
    expect(gaveUp).toEqual([j.id])
    expect(
      await claimJob(db, 'w', 10_000, at(33), (g) => {
        gaveUp.push(g.id)
      }),
    ).toBeNull()
    expect(gaveUp).toEqual([j.id])
    const final = (await db.select().from(jobs).where(eq(jobs.id, j.id)))[0]!
    expect(final).toMatchObject({ status: 'failed', attempts: 2 })
    expect(final.lastError).toMatch(/stopped during every attempt/)
    expect((await db.select().from(runs).where(eq(runs.id, run.id)))[0]!.status).toBe('interrupted')
  })

  it('heartbeat extends only the owner’s lease', async () => {
    const { job: j } = await job(await tenant())
    await claimJob(db, 'w', 1000, at(0))
    expect(await heartbeat(db, j.id, 'other', 60_000)).toBe(false)
    expect(await heartbeat(db, j.id, 'w', 60_000)).toBe(true)
    const lease = (await db.select().from(jobs).where(eq(jobs.id, j.id)))[0]!.leaseExpiresAt!
    expect(lease.getTime()).toBeGreaterThan(Date.now() + 50_000)
  })
})

describe('failJob', () => {
  it('backs off e^attempts seconds, capped at an hour', async () => {
    expect(backoffSeconds(1)).toBeCloseTo(Math.E, 5)
    expect(backoffSeconds(3)).toBeCloseTo(Math.exp(3), 5)
    expect(backoffSeconds(8)).toBeCloseTo(Math.exp(8), 5)
    expect(backoffSeconds(9)).toBe(3600)
    expect(backoffSeconds(50)).toBe(3600)

    const { job: j } = await job(await tenant(), { maxAttempts: 3 })
    await claimJob(db, 'w', 1000, at(0))
    expect(await failJob(db, j.id, 'w', 'disk hiccup', {}, at(1))).toBe('retry')
    let row = await getJob(db, j.tenantId, j.id)
    expect(row).toMatchObject({ status: 'queued', attempts: 1, lastError: 'disk hiccup' })
    expect(row.runAt.getTime()).toBe(at(1).getTime() + Math.floor(Math.E * 1000))
    expect(await claimJob(db, 'w', 1000, at(3))).toBeNull() // not due yet
    await claimJob(db, 'w', 1000, at(4))
    expect(await failJob(db, j.id, 'w', 'again', {}, at(5))).toBe('retry')
    row = await getJob(db, j.tenantId, j.id)
    expect(row.runAt.getTime()).toBe(at(5).getTime() + Math.floor(Math.exp(2) * 1000))
    await claimJob(db, 'w', 1000, at(60))
    expect(await failJob(db, j.id, 'w', 'third', {}, at(61))).toBe('failed') // maxAttempts honoured
    expect(await getJob(db, j.tenantId, j.id)).toMatchObject({ status: 'failed', attempts: 3 })
  })

  it('fails permanent errors at once, and ignores a lost lease', async () => {
    const t = await tenant()
    const { job: j } = await job(t)
    await claimJob(db, 'w', 1000, at(0))
    expect(await failJob(db, j.id, 'other', 'x')).toBe('lost')
    expect(await failJob(db, j.id, 'w', 'wrong password', { permanent: true })).toBe('failed')
    expect(await getJob(db, t, j.id)).toMatchObject({ status: 'failed', attempts: 1 })
    expect(await claimJob(db, 'w', 1000, at(10_000))).toBeNull()
  })
})

describe('runner settings', () => {
  it('stores and overwrites values', async () => {
    expect(await getRunnerSetting(db, 'paused')).toBeUndefined()
    await setRunnerSetting(db, 'paused', '1')
    await setRunnerSetting(db, 'paused', '0')
    expect(await getRunnerSetting(db, 'paused')).toBe('0')
  })
})

describe('concurrent claims', () => {
  const fill = async (n = 30) => {
    const ids: number[] = []
    for (let i = 0; i < n; i++) ids.push((await job(await tenant(), { runAt: new Date(0) })).job.id)
    return ids
  }

  it('never gives the same job to two connections', async () => {
    const ids = await fill()
    // A second connection to the same database, on either engine.
    const url = deps.config.databaseUrl
    const other: Db = url ? connectPostgres(url) : openDb(deps.config.dbPath)
    const got: number[] = []
    for (let i = 0; i < 40; i++) {
      const j = await claimJob(i % 2 ? other : db, `c${i % 2}`, 60_000)
      if (j) got.push(j.id)
    }
    if (url) await closePostgres(other)
    else other.$client.close()
    expect(got.sort((x, y) => x - y)).toEqual(ids)
  })

  it('never gives the same job to two processes', async () => {
    const ids = await fill(200)
    const script = `
      const { openDatabase } = await import(${JSON.stringify(new URL('../../src/db/client.ts', import.meta.url).href)})
      const { closePostgres } = await import(${JSON.stringify(new URL('../../src/db/dialect.ts', import.meta.url).href)})
      const q = await import(${JSON.stringify(new URL('../../src/db/jobs.ts', import.meta.url).href)})
      const db = await openDatabase(JSON.parse(process.argv[1]))
      // start together, so the claims really interleave
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]) - Date.now())
      const got = []
      while ((await q.listQueue(db)).length) {
        const j = await q.claimJob(db, 'p' + process.pid, 60000)
        if (j) { got.push(j.id); await q.completeJob(db, j.id, 'p' + process.pid) }
      }
      console.log(JSON.stringify(got))
      await closePostgres(db)`
    const run = promisify(execFile)
    const start = String(Date.now() + 2000)
    const { databaseUrl, dbPath, dataDir } = deps.config
    const where = JSON.stringify({ databaseUrl, dbPath, dataDir })
    const args = ['--import', 'tsx', '--input-type=module', '-e', script, where, start]
    const outs = await Promise.all([run('node', args), run('node', args)])
    const lists = outs.map((o) => JSON.parse(o.stdout) as number[])
    expect(lists.flat().sort((x, y) => x - y)).toEqual(ids)
  })
})
