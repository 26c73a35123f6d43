import type { Run } from '../../db/schema.ts'
import type { Job, Trigger } from '../../db/job-payloads.ts'
import { closeRuns, createRun, finishRun, logRun } from '../../db/runs.ts'
import { CANCELLED_BY_TENANT } from '../../db/job-cancel.ts'
import { raiseRunResult } from '../../notify/run-result.ts'
import type { EngineDeps } from '../deps.ts'
import { JobFailed, cancelledBy, isPermanent } from '../../errors.ts'
import { plainReason } from '../restic/failure.ts'

/** How a run ended, as its body tells it. */
export type RunOutcome = {
  status: 'success' | 'partial' | 'failed'
  /** Why it failed or what is incomplete, in words the tenant can act on; null on success. */
  error: string | null
  bytes?: number
  /** A failure retrying cannot fix: the queue does not try the job again. */
  permanent?: boolean
  /** The run's last log line (an error line when it failed). */
  log?: string
}

export type RunSpec = {
  kind: Run['kind']
  tenantId: number
  trigger: Trigger
  /** The job attempt this run is; null for a run outside the queue (the CLI's check). */
  job: Job | null
  /** The policy the run works for: a backup's, a verification's; told of the result. */
  policy: { id: number; name: string } | null
  /** Aborts when the attempt is cut off (runner stopping, lease lost, the tenant cancelled). */
  signal?: AbortSignal
  /** The run's first log line. */
  started?: string
}

/**
 * One run from start to end, the same for every job kind: creates the run, lets `body` do the
 * work and record its stages (a throw is a failed outcome), closes the run with the outcome,
 * then tells the tenant (raiseRunResult), except for an attempt that was cut off: that one is
 * retried, not reported. When a job's run failed, throws JobFailed with the run's error, so the
 * queue retries it, or not when the outcome is permanent. A run its tenant cancelled (and that
 * did not succeed first) ends 'cancelled' and throws the signal's JobCancelled: never retried.
 */
export async function withRun<T extends RunOutcome>(
  deps: EngineDeps,
  spec: RunSpec,
  body: (run: Run) => Promise<T>,
): Promise<T & { runId: number }> {
  const { db } = deps
  const { job, policy } = spec
  const run = await createRun(db, spec.tenantId, {
    kind: spec.kind,
    trigger: spec.trigger,
    jobId: job?.id ?? null,
    policyId: policy?.id ?? null,
    policyName: policy?.name ?? null,
    node: job?.node ?? null,
  })
  if (spec.started) await logRun(db, run.id, 'info', spec.started)
  let outcome: T | RunOutcome
  try {
    outcome = await body(run)
  } catch (err) {
    const reason = plainReason(err)
    outcome = { status: 'failed', error: reason, permanent: isPermanent(err), log: reason }
  }
  if (cancelledBy(spec.signal) && outcome.status !== 'success') {
    await logRun(db, run.id, 'info', CANCELLED_BY_TENANT)
    await closeRuns(db, { runId: run.id }, 'cancelled', {
      error: CANCELLED_BY_TENANT,
      bytes: outcome.bytes,
    })
    throw spec.signal!.reason
  }
  const failed = outcome.status === 'failed'
  if (outcome.log) await logRun(db, run.id, failed ? 'error' : 'info', outcome.log)
  await finishRun(db, run.id, outcome.status, { error: outcome.error, bytes: outcome.bytes })
  if (policy && (spec.kind === 'backup' || spec.kind === 'verify') && !spec.signal?.aborted) {
    await raiseRunResult(deps, {
      kind: spec.kind,
      tenantId: spec.tenantId,
      runId: run.id,
      jobId: job?.id ?? null,
      policy,
      status: outcome.status,
      reason: outcome.error,
      bytes: outcome.bytes ?? 0,
      final: !failed || !job || Boolean(outcome.permanent) || job.attempts >= job.maxAttempts,
    })
  }
  if (failed && job)
    throw new JobFailed(outcome.error ?? `The ${spec.kind} failed.`, Boolean(outcome.permanent))
  return { ...(outcome as T), runId: run.id }
}
