import { and, desc, eq, inArray, isNull, lt, ne, or } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { policies, runs } from '../db/schema.ts'
import { latestRunOfJob } from '../db/runs.ts'
import { policyIdOf, type Job } from '../db/job-payloads.ts'
import { notify, type NotifyDeps } from './notify.ts'

/** A finished backup or verify run of a policy, as the tenant is told of it. */
export type RunResult = {
  kind: 'backup' | 'verify'
  tenantId: number
  runId: number
  jobId: number | null
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
async function previousStatus(db: Db, r: RunResult) {
  return (
    await db
      .select({ status: runs.status })
      .from(runs)
      .where(
        and(
          eq(runs.tenantId, r.tenantId),
          eq(runs.policyId, r.policy.id),
          eq(runs.kind, 'backup'),
          lt(runs.id, r.runId),
          inArray(runs.status, ['success', 'partial', 'failed']),
          r.jobId === null ? undefined : or(isNull(runs.jobId), ne(runs.jobId, r.jobId)),
        ),
      )
      .orderBy(desc(runs.id))
      .limit(1)
  )[0]?.status
}

/**
 * The one place a run's result is told. A backup: failed (last attempt only), partial, the first
 * success after a failed or incomplete run ('backup.recovered'), else success. A data check or
 * test restore: 'verify.failed' when it failed (last attempt only); its success is not told.
 */
export async function raiseRunResult(deps: NotifyDeps, r: RunResult): Promise<void> {
  try {
    const base = { tenantId: r.tenantId, runId: r.runId, policy: r.policy.name }
    if (r.kind === 'verify') {
      if (r.status === 'failed' && r.final)
        await notify(deps, {
          type: 'verify.failed',
          ...base,
          reason: r.reason ?? 'The check failed.',
        })
      return
    }
    const reason = r.reason ?? 'The backup did not finish.'
    if (r.status === 'failed') {
      if (r.final) await notify(deps, { type: 'backup.failed', ...base, reason })
    } else if (r.status === 'partial') {
      await notify(deps, { type: 'backup.partial', ...base, reason })
    } else {
      const before = await previousStatus(deps.db, r)
      if (before === 'failed' || before === 'partial')
        await notify(deps, { type: 'backup.recovered', ...base })
      else await notify(deps, { type: 'backup.success', ...base, bytes: r.bytes })
    }
  } catch (err) {
    console.error(`notify: the result of run ${r.runId} was not queued:`, err)
  }
}

/**
 * Tells of a job that failed for good because its last attempt died with its runner: a backup
 * as 'backup.failed', a test restore or data check as 'verify.failed', on its interrupted run.
 */
export async function raiseGaveUp(deps: NotifyDeps, job: Job): Promise<void> {
  try {
    const policyId = policyIdOf(job)
    const run = await latestRunOfJob(deps.db, job.tenantId, job.id)
    if (!policyId || !run || (job.kind !== 'backup' && job.kind !== 'verify')) return
    const policy = (
      await deps.db
        .select({ name: policies.name })
        .from(policies)
        .where(and(eq(policies.tenantId, job.tenantId), eq(policies.id, policyId)))
    )[0]
    await raiseRunResult(deps, {
      kind: job.kind,
      tenantId: job.tenantId,
      runId: run.id,
      jobId: job.id,
      policy: { id: policyId, name: policy?.name ?? `#${policyId}` },
      status: 'failed',
      reason: job.lastError ?? 'The runner stopped during every attempt.',
      bytes: 0,
      final: true,
    })
  } catch (err) {
    console.error(`notify: job ${job.id} gave up unreported:`, err)
  }
}
