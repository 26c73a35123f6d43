import type { Job } from '../../db/job-payloads.ts'
import { getTenant } from '../../db/tenants.ts'
import { getDestination } from '../../db/destinations.ts'
import { findRepository } from '../../db/repositories.ts'
import { getCatalogSnapshot } from '../../db/snapshots.ts'
import { JobFailed, NotFoundError, isPermanent } from '../../errors.ts'
import { plainReason } from '../restic/failure.ts'
import type { EngineDeps } from '../deps.ts'
import { buildIndex, syncSnapshots, toSnapshot, withRepository } from '../restic/snapshots.ts'

/**
 * One attempt of a `sync-snapshots` job: lists the repository on the destination with restic
 * and brings the panel's catalog in line (snapshots made elsewhere appear, forgotten ones go).
 * A destination without a repository yet has nothing to list.
 */
export async function runSyncSnapshotsJob(
  deps: EngineDeps,
  job: Job<'sync-snapshots'>,
  signal: AbortSignal,
): Promise<void> {
  const tenant = await getTenant(deps.db, job.tenantId)
  const dest = await getDestination(deps.db, tenant.id, job.payload.destinationId)
  if (!(await findRepository(deps.db, tenant.id, dest.id))?.initializedAt) return
  await inPlainWords(() =>
    withRepository(deps, tenant, dest, (repo) => syncSnapshots(deps, tenant, dest, repo), signal),
  )
}

/** A failure as the page waiting for the job shows it: plain words, permanent or not. */
async function inPlainWords(fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    if (err instanceof JobFailed) throw err
    throw new JobFailed(plainReason(err), isPermanent(err))
  }
}

/**
 * One attempt of an `index-snapshot` job: reads the snapshot's file list once (`restic ls`)
 * into SQLite. Already indexed, or gone from the catalog since it was asked for: nothing to do.
 */
export async function runIndexSnapshotJob(
  deps: EngineDeps,
  job: Job<'index-snapshot'>,
  signal: AbortSignal,
): Promise<void> {
  const tenant = await getTenant(deps.db, job.tenantId)
  const dest = await getDestination(deps.db, tenant.id, job.payload.destinationId)
  let row
  try {
    row = await getCatalogSnapshot(deps.db, tenant.id, dest.id, job.payload.snapshot)
  } catch (err) {
    if (err instanceof NotFoundError) return
    throw err
  }
  if (row.indexedAt) return
  await inPlainWords(() => buildIndex(deps, tenant, dest, toSnapshot(row), signal))
}
