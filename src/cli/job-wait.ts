import type { CliDeps } from './command.ts'
import { UsageError } from './io.ts'
import { findDestinationByName, listDestinations } from '../db/destinations.ts'
import { getJob } from '../db/jobs.ts'
import type { Tenant } from '../db/schema.ts'
import { NotFoundError } from '../errors.ts'
import { startRunner } from '../runner/runner.ts'
import { jobHandlers } from '../runner/handlers.ts'

/**
 * Waits for a job, running jobs in this process meanwhile (so `--wait` works with or without
 * `panel serve` running). Returns the job's final status.
 */
export async function waitFor(
  deps: CliDeps,
  tenantId: number,
  jobId: number,
): Promise<'done' | 'failed'> {
  const runner = startRunner({
    db: deps.db,
    handlers: jobHandlers(deps),
    concurrency: 1,
    pollMs: 100,
    heartbeatMs: 0, // a short-lived helper, not a runner /healthz should wait for
    onError: () => {},
  })
  try {
    for (;;) {
      const job = await getJob(deps.db, tenantId, jobId)
      if (job.status === 'done' || job.status === 'failed') return job.status
      if (job.status === 'queued' && job.attempts > 0 && job.lastError) {
        process.stderr.write(
          `panel: attempt ${job.attempts} failed, will retry: ${job.lastError}\n`,
        )
        return 'failed'
      }
      // A cheap read: a short interval keeps `--wait` from adding up to a tenth of a second.
      await new Promise((r) => setTimeout(r, 20))
    }
  } finally {
    await runner.stop()
  }
}

/** The tenant's destination named by `--destination`, or its only one. */
export async function destinationOf(deps: CliDeps, tenant: Tenant, name: string | undefined) {
  if (name) {
    const dest = await findDestinationByName(deps.db, tenant.id, name)
    if (!dest) throw new NotFoundError(`Destination “${name}”`)
    return dest
  }
  const all = await listDestinations(deps.db, tenant.id)
  if (all.length !== 1)
    throw new UsageError(
      `--destination is required (${all.map((d) => d.name).join(', ') || 'no destinations'})`,
    )
  return all[0]!
}
