import type { Destination, Tenant } from '../../db/schema.ts'
import type { Job, Trigger } from '../../db/job-payloads.ts'
import { getTenant } from '../../db/tenants.ts'
import { listDestinations } from '../../db/destinations.ts'
import { getPolicy, type PolicyWithLinks } from '../../db/policies.ts'
import { findRepository } from '../../db/repositories.ts'
import { finishStage, logRun, startStage } from '../../db/runs.ts'
import { recordVerification } from '../../db/verifications.ts'
import type { EngineDeps } from '../deps.ts'
import { runRestic } from '../restic/restic.ts'
import { withRepository } from '../restic/snapshots.ts'
import { plainReason } from '../restic/failure.ts'
import { damageReport, resticFailure } from '../restic/damage.ts'
import { formatDuration } from '../../units.ts'
import { runTestRestore, type VerifyResult } from './test-restore.ts'
import { withRun } from './run.ts'

const WEEK = 7 * 86_400_000

/**
 * The weekly check's share of the data: one of four slices by week number, so every pack is
 * re-read once every four weeks while each check reads about a quarter.
 */
export function rotatingSubset(now = Date.now()): string {
  return `${(Math.floor(now / WEEK) % 4) + 1}/4`
}

/**
 * `restic check --read-data-subset` on each repository of a policy's destinations (or all of
 * the tenant's, or one destination): verifies the structure and re-reads a sample of the data.
 * With a policy, records one `check` verification per destination before the run finishes and
 * raises `verify.failed` when any failed. As a job's run, a failure throws JobFailed (permanent).
 */
export async function runVerify(
  deps: EngineDeps,
  tenant: Tenant,
  opts: {
    destinationId?: number
    policyId?: number
    subset?: string
    job?: Job<'verify'> | null
    trigger?: Trigger
  },
  signal?: AbortSignal,
): Promise<{ runId: number; results: VerifyResult[] }> {
  const { db } = deps
  const policy: PolicyWithLinks | null = opts.policyId
    ? await getPolicy(db, tenant.id, opts.policyId)
    : null
  const inPolicy = policy ? new Set(policy.destinations.map((d) => d.id)) : null
  const dests: Destination[] = []
  for (const d of await listDestinations(db, tenant.id)) {
    if (
      (!opts.destinationId || d.id === opts.destinationId) &&
      (!inPolicy || inPolicy.has(d.id)) &&
      (await findRepository(db, tenant.id, d.id))?.initializedAt
    )
      dests.push(d)
  }
  const subset = opts.subset ?? '10%'
  const spec = {
    kind: 'verify' as const,
    tenantId: tenant.id,
    trigger: opts.trigger ?? 'manual',
    job: opts.job ?? null,
    policy,
    signal,
    started: policy
      ? `Data check of policy “${policy.name}” started (${subset} of the data).`
      : undefined,
  }
  return withRun(deps, spec, async (run) => {
    const results: VerifyResult[] = []
    for (const dest of dests) {
      const started = Date.now()
      const r = await checkOne(deps, tenant, dest, run.id, subset, signal)
      results.push(r)
      const durationMs = Date.now() - started
      // A cut-off attempt (runner stopping, lease lost) proves nothing: it is run again, not recorded.
      if (policy && !signal?.aborted)
        await recordVerification(db, tenant.id, {
          policyId: policy.id,
          destinationId: dest.id,
          runId: run.id,
          mode: 'check',
          ok: r.ok,
          durationMs,
          message: r.message,
        })
    }
    const failed = results.filter((r) => !r.ok)
    const error =
      dests.length === 0
        ? 'There is no repository to verify yet: run a backup first.'
        : failed.map((r) => `${r.destination}: ${r.message}`).join(' ')
    if (policy && !dests.length)
      await recordVerification(db, tenant.id, {
        policyId: policy.id,
        destinationId: null,
        runId: run.id,
        mode: 'check',
        ok: false,
        durationMs: 0,
        message: error,
      })
    const ok = dests.length > 0 && !failed.length
    return { status: ok ? 'success' : 'failed', error: error || null, permanent: true, results }
  })
}

async function checkOne(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  runId: number,
  subset: string,
  signal?: AbortSignal,
) {
  const stage = await startStage(deps.db, runId, 'check', dest.id)
  const started = Date.now()
  try {
    await withRepository(
      deps,
      tenant,
      dest,
      async (repo) => {
        // A run cut off with its destination gone leaves a lock restic proves stale but keeps.
        await runRestic(['unlock'], repo.env)
        const { code, stderr } = await runRestic(
          ['check', `--read-data-subset=${subset}`],
          repo.env,
          { okCodes: [0, 1] },
        )
        if (code !== 0)
          throw new Error(
            damageReport(stderr, repo.env) ??
              plainReason(repo.storageError() ?? new Error(resticFailure(stderr, repo.env))),
          )
      },
      signal,
    )
    const message = `Repository is healthy (structure checked, ${describeSubset(subset)} of the data re-read in ${formatDuration(Date.now() - started)}).`
    await finishStage(deps.db, stage.id, 'success', { message })
    return { destination: dest.name, ok: true, message }
  } catch (err) {
    await finishStage(deps.db, stage.id, 'failed', { message: plainReason(err) })
    await logRun(deps.db, runId, 'error', `${dest.name}: ${plainReason(err)}`)
    return { destination: dest.name, ok: false, message: plainReason(err) }
  }
}

function describeSubset(subset: string): string {
  const m = subset.match(/^(\d+)\/(\d+)$/)
  return m ? `part ${m[1]} of ${m[2]}` : subset
}

/** One attempt of a verify job: a data check or a test restore, per the payload's mode. */
export async function runVerifyJob(
  deps: EngineDeps,
  job: Job<'verify'>,
  signal: AbortSignal,
): Promise<void> {
  const tenant = await getTenant(deps.db, job.tenantId)
  const p = job.payload
  const trigger = p.trigger ?? 'manual'
  if (p.mode === 'restore' && p.policyId) {
    const policy = await getPolicy(deps.db, tenant.id, p.policyId)
    await runTestRestore(
      deps,
      tenant,
      policy,
      { destinationId: p.destinationId, job, trigger },
      signal,
    )
  } else {
    const subset = p.subset ?? (p.policyId ? rotatingSubset() : undefined)
    const opts = { destinationId: p.destinationId, policyId: p.policyId, subset, job, trigger }
    await runVerify(deps, tenant, opts, signal)
  }
}
