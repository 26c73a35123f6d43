import { and, eq, inArray, isNotNull } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction, rowsChanged } from './tx.ts'
import { notifyRunners } from './job-wakeups.ts'
import { jobs, policies } from './schema.ts'
import { NotFoundError } from '../errors.ts'
import { closeRuns, createRun } from './runs.ts'
import { policyIdOf, typedJob, type Job } from './job-payloads.ts'

/** What a run or job cancelled by its tenant says, on every page and in the API. */
export const CANCELLED_BY_TENANT = 'Cancelled by you.'
const CANCELLED_QUEUED = 'Cancelled by you before it started.'
const CANCELLED_STAGE = 'Cancelled by you.'

/**
 * What cancelling did: `cancelled` (it was queued: it will not run, and a cancelled run records
 * it), `stopping` (it is running: its runner stops it within a second or two, the run then ends
 * cancelled), `finished` (it had already ended; nothing changed).
 */
export type CancelOutcome = 'cancelled' | 'stopping' | 'finished'

/**
 * The tenant cancels its own job, in one `BEGIN IMMEDIATE`, so it cannot race the runner's
 * claim: a queued job fails at once without a retry and gets a cancelled run in the history; a
 * running one is marked, and the runner running it (in whichever process) aborts it. Another
 * tenant's job or a missing one throws NotFoundError.
 */
export async function cancelTenantJob(
  db: Db,
  tenantId: number,
  jobId: number,
  now = new Date(),
): Promise<{ outcome: CancelOutcome; job: Job }> {
  return await transaction(db, async () => {
    const row = (
      await db
        .select()
        .from(jobs)
        .where(and(eq(jobs.tenantId, tenantId), eq(jobs.id, jobId)))
    )[0]
    if (!row) throw new NotFoundError('That job')
    const job = typedJob(row)
    if (job.status === 'running') {
      await db.update(jobs).set({ cancelRequestedAt: now }).where(eq(jobs.id, job.id))
      await notifyRunners(db) // its runner, on any node, stops it now rather than at its next poll
      return { outcome: 'stopping' as const, job }
    }
    if (job.status !== 'queued') return { outcome: 'finished' as const, job }
    await db
      .update(jobs)
      .set({ status: 'failed', lastError: CANCELLED_BY_TENANT, updatedAt: now })
      .where(eq(jobs.id, job.id))
    // A look at the destination or a file list keeps no run history.
    if (job.kind === 'sync-snapshots' || job.kind === 'index-snapshot')
      return { outcome: 'cancelled' as const, job }
    const policyId = policyIdOf(job)
    const policy = policyId
      ? (
          await db
            .select({ id: policies.id, name: policies.name })
            .from(policies)
            .where(and(eq(policies.id, policyId), eq(policies.tenantId, tenantId)))
        )[0]
      : undefined
    const run = await createRun(
      db,
      tenantId,
      {
        kind: job.kind,
        trigger: job.payload.trigger ?? 'manual',
        jobId: job.id,
        policyId: policy?.id ?? null,
        policyName: policy?.name ?? policyNameOf(job),
      },
      { now },
    )
    await closeRuns(db, { runId: run.id }, 'cancelled', { error: CANCELLED_QUEUED }, now)
    return { outcome: 'cancelled' as const, job }
  })
}

/** The policy name a backup or verify job was queued with, if any. */
function policyNameOf(job: Job): string | null {
  return job.kind === 'backup' || job.kind === 'verify' ? (job.payload.policyName ?? null) : null
}

/** Of `jobIds` (jobs running here), those their tenant asked to cancel. */
export async function cancelRequested(db: Db, jobIds: number[]): Promise<number[]> {
  if (!jobIds.length) return []
  return (
    await db
      .select({ id: jobs.id })
      .from(jobs)
      .where(
        and(
          inArray(jobs.id, jobIds),
          eq(jobs.status, 'running'),
          isNotNull(jobs.cancelRequestedAt),
        ),
      )
  ).map((r) => r.id)
}

/**
 * Ends a running job its tenant cancelled: failed without a retry, `lastError` in plain words,
 * and its runs still running closed as cancelled. False when the lease is no longer `owner`'s.
 */
export async function endCancelled(
  db: Db,
  jobId: number,
  owner: string,
  now = new Date(),
): Promise<boolean> {
  return await transaction(db, async () => {
    const res = await db
      .update(jobs)
      .set({
        status: 'failed',
        lastError: CANCELLED_BY_TENANT,
        leaseExpiresAt: null,
        updatedAt: now,
      })
      .where(and(eq(jobs.id, jobId), eq(jobs.leaseOwner, owner), eq(jobs.status, 'running')))
    if (!rowsChanged(res)) return false
    const fields = { error: CANCELLED_BY_TENANT, stageMessage: CANCELLED_STAGE }
    await closeRuns(db, { jobIds: [jobId] }, 'cancelled', fields, now)
    return true
  })
}
