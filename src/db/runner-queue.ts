import { and, desc, eq, inArray, lte, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres, rows } from './dialect.ts'
import { jobs, policies, runs, tenants, type JobRow, type Run } from './schema.ts'
import { typedJob, type Job } from './job-payloads.ts'

/** Why a queued job is not next, in words; null when the runner may claim it now. */
export type QueueWait = 'disabled' | 'busy' | 'later' | null

export type QueuedJob = Job & { tenantName: string; policyName: string | null; wait: QueueWait }

export type RunningJob = Job & { tenantName: string; policyName: string | null; run: Run | null }

/*
 * The runner's own pick order (jobs.ts PICK) applied to the whole queue: claimable jobs first,
 * tenant whose latest job is oldest first, then due time; jobs that cannot be claimed yet (not
 * due, tenant disabled, or the tenant already has a job running) follow by due time.
 */
const ORDER = `
  select j.id,
    case when t.disabled then 'disabled'
         when exists (select 1 from jobs r where r.tenant_id = j.tenant_id and r.status = 'running') then 'busy'
         when j.run_at > @now then 'later' end as wait
  from jobs j join tenants t on t.id = j.tenant_id
  where j.status = 'queued'
  order by wait is not null,
    case when wait is null then (select max(p.updated_at) from jobs p
      where p.tenant_id = j.tenant_id and p.status in ('running', 'done', 'failed')) end asc nulls first,
    j.run_at, j.id
  limit @limit`

/**
 * ORDER on PostgreSQL: the same order, with a timestamptz `now`. PostgreSQL does not take an
 * output column inside an ORDER BY expression, so `wait` is computed in a subquery.
 */
const orderPg = (now: Date, limit: number) => sql`
  select id, wait from (
    select j.id, j.tenant_id, j.run_at,
      case when t.disabled then 'disabled'
           when exists (select 1 from jobs r where r.tenant_id = j.tenant_id and r.status = 'running') then 'busy'
           when j.run_at > ${now} then 'later' end as wait
    from jobs j join tenants t on t.id = j.tenant_id
    where j.status = 'queued') q
  order by wait is not null,
    case when wait is null then (select max(p.updated_at) from jobs p
      where p.tenant_id = q.tenant_id and p.status in ('running', 'done', 'failed')) end asc nulls first,
    run_at, id
  limit ${limit}`

/** The name of the policy a job's payload names (of the job's tenant), or null. */
function policyName(db: Db) {
  const policyId = isPostgres(db)
    ? sql`(${jobs.payload}->>'policyId')::int`
    : sql`json_extract(${jobs.payload}, '$.policyId')`
  return sql<string | null>`(select ${policies.name} from ${policies}
  where ${policies.id} = ${policyId} and ${policies.tenantId} = ${jobs.tenantId})`
}

async function withNames(db: Db, ids: number[]) {
  if (!ids.length)
    return new Map<number, { job: JobRow; tenantName: string; policyName: string | null }>()
  const rows = await db
    .select({ job: jobs, tenantName: tenants.name, policyName: policyName(db) })
    .from(jobs)
    .innerJoin(tenants, eq(tenants.id, jobs.tenantId))
    .where(inArray(jobs.id, ids))
  return new Map(rows.map((r) => [r.job.id, r]))
}

/** Admin view: the first `limit` queued jobs of every tenant, in the order the runner claims them. */
export async function queuedInClaimOrder(
  db: Db,
  now = new Date(),
  limit = 100,
): Promise<QueuedJob[]> {
  type Ordered = { id: number; wait: QueueWait }
  const order = isPostgres(db)
    ? await rows<Ordered>(db, orderPg(now, limit))
    : (db.$client.prepare(ORDER).all({ now: now.getTime(), limit }) as Ordered[])
  const named = await withNames(
    db,
    order.map((o) => o.id),
  )
  return order.flatMap((o) => {
    const row = named.get(o.id)
    return row
      ? [
          {
            ...typedJob(row.job),
            tenantName: row.tenantName,
            policyName: row.policyName,
            wait: o.wait,
          },
        ]
      : []
  })
}

/** Queued jobs in all, and how many of them are due now. */
export async function queueCounts(
  db: Db,
  now = new Date(),
): Promise<{ queued: number; due: number }> {
  const row = (
    await db
      .select({
        queued: sql<number>`count(*)`,
        due: sql<number>`coalesce(sum(case when ${lte(jobs.runAt, now)} then 1 else 0 end), 0)`,
      })
      .from(jobs)
      .where(eq(jobs.status, 'queued'))
  )[0]
  return { queued: Number(row?.queued ?? 0), due: Number(row?.due ?? 0) }
}

/** Admin view: every running job with its tenant, policy and the run it is writing progress to. */
export async function runningJobs(db: Db): Promise<RunningJob[]> {
  const rows = await db
    .select({ job: jobs, tenantName: tenants.name, policyName: policyName(db) })
    .from(jobs)
    .innerJoin(tenants, eq(tenants.id, jobs.tenantId))
    .where(eq(jobs.status, 'running'))
    .orderBy(jobs.updatedAt, jobs.id)
  if (!rows.length) return []
  // The newest run of each job is the current attempt's.
  const current = new Map<number, Run>()
  const list = await db
    .select()
    .from(runs)
    .where(
      inArray(
        runs.jobId,
        rows.map((r) => r.job.id),
      ),
    )
    .orderBy(desc(runs.id))
  for (const run of list)
    if (run.jobId !== null && !current.has(run.jobId)) current.set(run.jobId, run)
  return rows.map((r) => {
    const run = current.get(r.job.id) ?? null
    return {
      ...typedJob(r.job),
      tenantName: r.tenantName,
      policyName: r.policyName,
      run: run?.status === 'running' ? run : null,
    }
  })
}

/**
 * Removes a job that is still queued and returns it; null when it is gone or already claimed.
 * One statement, so it cannot race the runner's claim: a job claimed first is left alone.
 */
export async function cancelQueuedJob(
  db: Db,
  id: number,
): Promise<(Job & { tenantName: string }) | null> {
  const job = (
    await db
      .delete(jobs)
      .where(and(eq(jobs.id, id), eq(jobs.status, 'queued')))
      .returning()
  )[0]
  if (!job) return null
  const tenant = (
    await db.select({ name: tenants.name }).from(tenants).where(eq(tenants.id, job.tenantId))
  )[0]
  return { ...typedJob(job), tenantName: tenant?.name ?? '?' }
}
