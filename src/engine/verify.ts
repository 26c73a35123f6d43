import type { Destination, Job, Tenant } from '../db/schema.ts'
import { getTenant } from '../db/tenants.ts'
import { listDestinations } from '../db/destinations.ts'
import { findRepository } from '../db/repositories.ts'
import { createRun, finishRun, finishStage, logRun, startStage } from '../db/runs.ts'
import type { EngineDeps } from './context.ts'
import { runRestic } from './restic.ts'
import { withRepository } from './snapshots.ts'
import { JobFailed, plainReason } from './failure.ts'

/**
 * `restic check --read-data-subset` on each of the tenant's repositories (or one destination):
 * verifies the structure and re-reads a sample of the data.
 */
export async function runVerify(
  deps: EngineDeps,
  tenant: Tenant,
  opts: { destinationId?: number; subset?: string; jobId?: number | null; trigger?: 'manual' | 'cli' | 'schedule' },
  signal?: AbortSignal,
): Promise<{ runId: number; results: { destination: string; ok: boolean; message: string }[] }> {
  const { db } = deps
  const dests = listDestinations(db, tenant.id).filter(
    (d) => (!opts.destinationId || d.id === opts.destinationId) && findRepository(db, tenant.id, d.id)?.initializedAt,
  )
  const run = createRun(db, tenant.id, { kind: 'verify', trigger: opts.trigger ?? 'manual', jobId: opts.jobId ?? null, policyId: null })
  const results: { destination: string; ok: boolean; message: string }[] = []
  for (const dest of dests) results.push(await checkOne(deps, tenant, dest, run.id, opts.subset ?? '10%', signal))
  const failed = results.filter((r) => !r.ok)
  const error = dests.length === 0 ? 'There is no repository to verify yet: run a backup first.' : failed.map((r) => `${r.destination}: ${r.message}`).join(' ')
  finishRun(db, run.id, dests.length && !failed.length ? 'success' : 'failed', { error: error || null })
  return { runId: run.id, results }
}

async function checkOne(deps: EngineDeps, tenant: Tenant, dest: Destination, runId: number, subset: string, signal?: AbortSignal) {
  const stage = startStage(deps.db, runId, 'check', dest.id)
  try {
    await withRepository(
      deps,
      tenant,
      dest,
      async (repo) => {
        // A run cut off with its destination gone leaves a lock restic proves stale but keeps.
        await runRestic(['unlock'], repo.env)
        await runRestic(['check', `--read-data-subset=${subset}`], repo.env)
      },
      signal,
    )
    const message = `Repository is healthy (structure checked, ${subset} of the data re-read).`
    finishStage(deps.db, stage.id, 'success', { message })
    return { destination: dest.name, ok: true, message }
  } catch (err) {
    finishStage(deps.db, stage.id, 'failed', { message: plainReason(err) })
    logRun(deps.db, runId, 'error', `${dest.name}: ${plainReason(err)}`)
    return { destination: dest.name, ok: false, message: plainReason(err) }
  }
}

export async function runVerifyJob(deps: EngineDeps, job: Job, signal: AbortSignal): Promise<void> {
  const tenant = getTenant(deps.db, job.tenantId)
  const p = job.payload as { destinationId?: number }
  const { results } = await runVerify(deps, tenant, { destinationId: p.destinationId, jobId: job.id, trigger: 'manual' }, signal)
  const bad = results.filter((r) => !r.ok)
  if (bad.length) throw new JobFailed(bad.map((r) => `${r.destination}: ${r.message}`).join(' '), true)
}
