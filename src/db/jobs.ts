import { and, asc, count, desc, eq, gt, inArray, lt, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction, rowsChanged } from './tx.ts'
import { isPostgres } from './dialect.ts'
import { pickPg } from './pick-pg.ts'
import { notifyRunners } from './job-wakeups.ts'
import { jobs, runnerSettings, tenants } from './schema.ts'
import { NotFoundError } from '../errors.ts'
import { closeRuns } from './runs.ts'
import { typedJob, type Job, type JobKind, type JobPayloads } from './job-payloads.ts'

export type { Job, JobKind }

export type EnqueueInput<K extends JobKind> = {
  kind: K
  tenantId: number
  payload: JobPayloads[K]
  /** Not before this time; default now. */
  runAt?: Date
  /** At most one queued or running job per key; default none. */
  dedupeKey?: string
  /** Default 5. */
  maxAttempts?: number
}

const ACTIVE = ['queued', 'running'] as const
const INTERRUPTED_JOB = 'interrupted: the runner stopped during this job'
const GAVE_UP =
  'The runner stopped during every attempt of this job (crash or restart); it was not retried again.'
const INTERRUPTED_RUN = 'The runner stopped during this run (crash or restart); it was retried.'
const INTERRUPTED_STAGE = 'Interrupted: the runner stopped during this stage.'
/** Backoff ceiling in seconds, so a job retried many times still runs hourly. */
const MAX_BACKOFF_S = 3600

/** Runs `fn` in one `BEGIN IMMEDIATE` transaction (a savepoint when already in one). */
async function immediate<T>(db: Db, fn: () => Promise<T>): Promise<Promise<T>> {
  return await transaction(db, fn)
}

/**
 * Adds a job. When `dedupeKey` is given and a queued or running job already holds it, nothing
 * is inserted and that job is returned with `created: false` (race-safe: the partial unique
 * index decides, inside one immediate transaction).
 */
export async function enqueue<K extends JobKind>(
  db: Db,
  input: EnqueueInput<K>,
): Promise<{ job: Job<K>; created: boolean }> {
  const now = new Date()
  return await immediate(db, async () => {
    const job = (
      await db
        .insert(jobs)
        .values({
          kind: input.kind,
          tenantId: input.tenantId,
          payload: input.payload,
          runAt: input.runAt ?? now,
          dedupeKey: input.dedupeKey ?? null,
          maxAttempts: input.maxAttempts ?? 5,
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoNothing()
        .returning()
    )[0]
    if (job) {
      await notifyRunners(db)
      return { job: typedJob<K>(job), created: true }
    }
    const existing = (
      await db
        .select()
        .from(jobs)
        .where(and(eq(jobs.dedupeKey, input.dedupeKey ?? ''), inArray(jobs.status, ACTIVE)))
    )[0]
    if (!existing) throw new Error('enqueue: insert ignored but no active job holds the key')
    return { job: typedJob<K>(existing), created: false }
  })
}

/** Closes the jobs' runs still running as interrupted (each job is retried or given up). */
async function interruptRuns(db: Db, jobIds: number[], now: Date) {
  const fields = { error: INTERRUPTED_RUN, stageMessage: INTERRUPTED_STAGE }
  await closeRuns(db, { jobIds }, 'interrupted', fields, now)
}

/**
 * Running jobs whose lease expired before `now` go back to the queue, attempts kept; a job that
 * has used all its attempts this way fails instead, so a job that kills its runner every time
 * does not loop forever. Returns the jobs that failed so.
 */
async function expireLeases(db: Db, now: Date): Promise<Job[]> {
  const exhausted = (
    await db
      .update(jobs)
      .set({ status: 'failed', leaseOwner: null, leaseExpiresAt: null, lastError: GAVE_UP })
      .where(
        and(
          eq(jobs.status, 'running'),
          lt(jobs.leaseExpiresAt, now),
          sql`${jobs.attempts} >= ${jobs.maxAttempts}`,
        ),
      )
      .returning()
  ).map((j) => typedJob(j))
  await interruptRuns(
    db,
    exhausted.map((j) => j.id),
    now,
  )
  const expired = await db
    .update(jobs)
    .set({ status: 'queued', leaseOwner: null, leaseExpiresAt: null, lastError: INTERRUPTED_JOB })
    .where(and(eq(jobs.status, 'running'), lt(jobs.leaseExpiresAt, now)))
    .returning({ id: jobs.id })
  await interruptRuns(
    db,
    expired.map((j) => j.id),
    now,
  )
  return exhausted
}

// Fair between tenants: the tenant whose latest claimed/finished job is oldest goes first.
const PICK = `
  select j.id from jobs j join tenants t on t.id = j.tenant_id
  where j.status = 'queued' and j.run_at <= ? and t.disabled = 0 and t.node is ?
    and not exists (select 1 from jobs r where r.tenant_id = j.tenant_id and r.status = 'running')
  order by (select max(p.updated_at) from jobs p
            where p.tenant_id = j.tenant_id and p.status in ('running', 'done', 'failed')) asc nulls first,
    j.run_at, j.id
  limit 1`

/**
 * How many jobs of the tenant run, by a statement of its own: on PostgreSQL it sees a claim
 * another runner committed after this claim's pick began, which the pick's snapshot did not.
 */
async function runningOf(db: Db, tenantId: number): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(jobs)
    .where(and(eq(jobs.tenantId, tenantId), eq(jobs.status, 'running')))
  return row?.n ?? 0
}

/** Two runners claimed jobs of one tenant at once: the later claim is rolled back. */
class ClaimRace extends Error {}

/**
 * Claims one due job for `owner` with a lease of `leaseMs`, in one `BEGIN IMMEDIATE`
 * transaction, so concurrent runner processes never get the same job. First returns expired
 * leases to the queue (their running runs rows become 'interrupted'). Never picks a job of a
 * disabled tenant or of a tenant that already has a running job. Increments `attempts`.
 * `onGaveUp` hears of each job failed because its last attempt died with its runner, after
 * the commit (nobody else would ever report it). `node`: the runner's `--node`; only jobs of
 * tenants on that node are claimed (null: tenants without a node, the panel's own server).
 */
export async function claimJob(
  db: Db,
  owner: string,
  leaseMs: number,
  now = new Date(),
  onGaveUp?: (job: Job) => void | Promise<void>,
  node: string | null = null,
): Promise<Job | null> {
  let gaveUp: Job[] = []
  const pg = isPostgres(db)
  const claim = async () => {
    gaveUp = await expireLeases(db, now)
    const picked = pg
      ? await pickPg(db, now, node)
      : (db.$client.prepare(PICK).get(now.getTime(), node) as { id: number } | undefined)
    if (!picked) return null
    const job = (
      await db
        .update(jobs)
        .set({
          status: 'running',
          leaseOwner: owner,
          node,
          leaseExpiresAt: new Date(now.getTime() + leaseMs),
          attempts: sql`${jobs.attempts} + 1`,
          updatedAt: now,
        })
        .where(and(eq(jobs.id, picked.id), eq(jobs.status, 'queued')))
        .returning()
    )[0]
    if (job && pg && (await runningOf(db, job.tenantId)) > 1) throw new ClaimRace()
    return job ? typedJob(job) : null
  }
  let claimed: Job | null
  try {
    // SQLite: one BEGIN IMMEDIATE. PostgreSQL: rows locked FOR UPDATE SKIP LOCKED, so runners
    // claim side by side instead of one after another.
    claimed = await transaction(db, claim, { serialize: !pg })
  } catch (err) {
    if (!(err instanceof ClaimRace)) throw err
    claimed = null // another runner took a job of this tenant first; the next poll goes on
  }
  for (const job of gaveUp) {
    // The claim is committed: a failing notice must not lose the job just claimed.
    await Promise.resolve(onGaveUp?.(job)).catch((err) =>
      console.error(`runner: job ${job.id} gave up unreported:`, err),
    )
  }
  return claimed
}

const ours = (jobId: number, owner: string) =>
  and(eq(jobs.id, jobId), eq(jobs.leaseOwner, owner), eq(jobs.status, 'running'))

/** Extends the lease to now + `leaseMs`. False when the job is no longer running under `owner`. */
export async function heartbeat(
  db: Db,
  jobId: number,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  const leaseExpiresAt = new Date(Date.now() + leaseMs)
  return rowsChanged(await db.update(jobs).set({ leaseExpiresAt }).where(ours(jobId, owner))) > 0
}

/** Marks the job done. False (and no change) when the lease is no longer `owner`'s. */
export async function completeJob(
  db: Db,
  jobId: number,
  owner: string,
  now = new Date(),
): Promise<boolean> {
  const res = await db
    .update(jobs)
    .set({ status: 'done', leaseExpiresAt: null, lastError: null, updatedAt: now })
    .where(ours(jobId, owner))
  return rowsChanged(res) > 0
}

/** Seconds to wait before retry number `attempts` + 1: e^min(attempts, 10), at most an hour. */
export function backoffSeconds(attempts: number): number {
  return Math.min(Math.exp(Math.min(attempts, 10)), MAX_BACKOFF_S)
}

/**
 * Records a failed attempt. Permanent errors, and jobs that used all `maxAttempts`, become
 * 'failed' (their runs rows still 'running' become 'failed' too); others are queued again after
 * `backoffSeconds(attempts)`. 'lost' (no change) when the lease is no longer `owner`'s.
 */
export async function failJob(
  db: Db,
  jobId: number,
  owner: string,
  message: string,
  opts: { permanent?: boolean } = {},
  now = new Date(),
): Promise<'retry' | 'failed' | 'lost'> {
  return await immediate(db, async () => {
    const job = (await db.select().from(jobs).where(ours(jobId, owner)))[0]
    if (!job) return 'lost'
    const lastError = message.slice(0, 2000)
    if (opts.permanent || job.attempts >= job.maxAttempts) {
      await db
        .update(jobs)
        .set({ status: 'failed', leaseExpiresAt: null, lastError, updatedAt: now })
        .where(eq(jobs.id, jobId))
      await closeRuns(db, { jobIds: [jobId] }, 'failed', { error: lastError }, now)
      return 'failed'
    }
    const runAt = new Date(now.getTime() + backoffSeconds(job.attempts) * 1000)
    await db
      .update(jobs)
      .set({ status: 'queued', runAt, leaseOwner: null, leaseExpiresAt: null, lastError })
      .where(eq(jobs.id, jobId))
    return 'retry'
  })
}

/**
 * Gives a job back without counting it as a failure (graceful runner stop): queued again due
 * now, its running runs rows marked interrupted. False when the lease is no longer `owner`'s.
 */
export async function releaseJob(
  db: Db,
  jobId: number,
  owner: string,
  now = new Date(),
): Promise<boolean> {
  const lastError = INTERRUPTED_JOB
  return await immediate(db, async () => {
    const res = await db
      .update(jobs)
      .set({ status: 'queued', runAt: now, leaseOwner: null, leaseExpiresAt: null, lastError })
      .where(ours(jobId, owner))
    if (rowsChanged(res)) await interruptRuns(db, [jobId], now)
    return rowsChanged(res) > 0
  })
}

/** Moves the tenant's queued job's start to now if it was due later (an on-demand request). */
export async function startQueuedNow(
  db: Db,
  tenantId: number,
  jobId: number,
  now = new Date(),
): Promise<void> {
  await db
    .update(jobs)
    .set({ runAt: now, updatedAt: now })
    .where(
      and(
        eq(jobs.tenantId, tenantId),
        eq(jobs.id, jobId),
        eq(jobs.status, 'queued'),
        gt(jobs.runAt, now),
      ),
    )
}

/** The tenant's job; throws NotFoundError for another tenant's or a missing id. */
export async function getJob(db: Db, tenantId: number, id: number): Promise<Job> {
  const row = (
    await db
      .select()
      .from(jobs)
      .where(and(eq(jobs.tenantId, tenantId), eq(jobs.id, id)))
  )[0]
  if (!row) throw new NotFoundError('That job')
  return typedJob(row)
}

/** Admin view: every queued and running job with its tenant's name, running first. */
export async function listQueue(db: Db): Promise<(Job & { tenantName: string })[]> {
  return (
    await db
      .select({ job: jobs, tenantName: tenants.name })
      .from(jobs)
      .innerJoin(tenants, eq(tenants.id, jobs.tenantId))
      .where(inArray(jobs.status, ACTIVE))
      .orderBy(desc(jobs.status), asc(jobs.runAt), asc(jobs.id))
  ).map((r) => ({ ...typedJob(r.job), tenantName: r.tenantName }))
}

/** Jobs running now, across all runner processes. */
export async function countRunning(db: Db): Promise<number> {
  return (await db.select({ n: count() }).from(jobs).where(eq(jobs.status, 'running')))[0]?.n ?? 0
}

/**
 * `paused`: '1' or '0'. `concurrency`: jobs per runner process, overriding its option.
 * `uploadLimit`: KiB/s each backup may send to its destination; unset or '0' means no limit.
 */
export type RunnerSettingKey = 'paused' | 'concurrency' | 'uploadLimit'

export async function getRunnerSetting(db: Db, key: RunnerSettingKey): Promise<string | undefined> {
  return (await db.select().from(runnerSettings).where(eq(runnerSettings.key, key)))[0]?.value
}

export async function setRunnerSetting(
  db: Db,
  key: RunnerSettingKey,
  value: string,
): Promise<void> {
  await db
    .insert(runnerSettings)
    .values({ key, value })
    .onConflictDoUpdate({ target: runnerSettings.key, set: { value } })
}

/** The admin's upload limit per backup in KiB/s, or null for none. */
export async function uploadLimitKiB(db: Db): Promise<number | null> {
  const n = Number(await getRunnerSetting(db, 'uploadLimit'))
  return Number.isInteger(n) && n > 0 ? n : null
}

/** The tenant's queued and running jobs, newest first. */
export async function activeJobs(db: Db, tenantId: number): Promise<Job[]> {
  return (
    await db
      .select()
      .from(jobs)
      .where(and(eq(jobs.tenantId, tenantId), inArray(jobs.status, ACTIVE)))
      .orderBy(desc(jobs.id))
  ).map((j) => typedJob(j))
}
