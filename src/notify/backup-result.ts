import { and, desc, eq, inArray, isNull, lt, ne, or } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { policies, runs, type Job } from '../db/schema.ts'
import { latestRunOfJob } from '../db/runs.ts'
import { notify, type NotifyDeps } from './notify.ts'

export type BackupResult = {
  tenantId: number
  runId: number
  jobId: number
  policy: { id: number; name: string }
  status: 'success' | 'partial' | 'failed'
  reason: string | null
  bytes: number
  /** False for a failed attempt the queue will retry: only the last attempt is told. */
  final: boolean
}

/**
 * The status of the policy's previous finished backup, from an earlier job (a retried job's
 * own failed attempts were never told, so they do not make a success a "recovery").
 */
function previousStatus(db: Db, r: BackupResult) {
  return db
    .select({ status: runs.status })
    .from(runs)
    .where(
      and(
        eq(runs.tenantId, r.tenantId),
        eq(runs.policyId, r.policy.id),
        eq(runs.kind, 'backup'),
        lt(runs.id, r.runId),
        inArray(runs.status, ['success', 'partial', 'failed']),
        or(isNull(runs.jobId), ne(runs.jobId, r.jobId)),
      ),
    )
    .orderBy(desc(runs.id))
    .limit(1)
    .get()?.status
}

/**
 * Raises the notice for a finished backup run: failed (last attempt only), partial, the first
 * success after a failed or incomplete run ('backup.recovered'), else success.
 */
export function raiseBackupResult(deps: NotifyDeps, r: BackupResult): void {
  try {
    const base = { tenantId: r.tenantId, runId: r.runId, policy: r.policy.name }
    const reason = r.reason ?? 'The backup did not finish.'
    if (r.status === 'failed') {
      if (r.final) notify(deps, { type: 'backup.failed', ...base, reason })
    } else if (r.status === 'partial') {
      notify(deps, { type: 'backup.partial', ...base, reason })
    } else {
      const before = previousStatus(deps.db, r)
      if (before === 'failed' || before === 'partial')
        notify(deps, { type: 'backup.recovered', ...base })
      else notify(deps, { type: 'backup.success', ...base, bytes: r.bytes })
    }
  } catch (err) {
    console.error(`notify: the result of run ${r.runId} was not queued:`, err)
  }
}

/**
 * Tells of a job that failed for good because its last attempt died with its runner: a backup
 * as 'backup.failed', a test restore or data check as 'verify.failed', on its interrupted run.
 */
export function raiseGaveUp(deps: NotifyDeps, job: Job): void {
  try {
    const policyId = Number((job.payload as { policyId?: unknown }).policyId) || null
    const run = latestRunOfJob(deps.db, job.tenantId, job.id)
    if (!policyId || !run || (job.kind !== 'backup' && job.kind !== 'verify')) return
    const policy = deps.db
      .select({ name: policies.name })
      .from(policies)
      .where(eq(policies.id, policyId))
      .get()
    const event = {
      tenantId: job.tenantId,
      runId: run.id,
      policy: policy?.name ?? `#${policyId}`,
      reason: job.lastError ?? 'The runner stopped during every attempt.',
    }
    notify(deps, { type: job.kind === 'backup' ? 'backup.failed' : 'verify.failed', ...event })
  } catch (err) {
    console.error(`notify: job ${job.id} gave up unreported:`, err)
  }
}
