import type { Db } from '../db/client.ts'
import { enqueue } from '../db/jobs.ts'
import { getDestination } from '../db/destinations.ts'
import { findRepository } from '../db/repositories.ts'
import { rekeyJobKey, type Job } from '../db/job-payloads.ts'
import { ConflictError } from '../errors.ts'

/**
 * Queues a new password for the tenant's repository on one of its destinations. The runner
 * runs one job per tenant at a time, so the change never overlaps the tenant's backups. At most
 * one change per repository is queued or running: asking again returns that one
 * (`created: false`). NotFoundError for another tenant's destination; ConflictError when there
 * is no repository there yet.
 */
export async function requestRekey(
  db: Db,
  tenantId: number,
  destinationId: number,
  trigger: 'manual' | 'cli' | 'api',
): Promise<{ job: Job; created: boolean }> {
  const dest = await getDestination(db, tenantId, destinationId)
  if (!(await findRepository(db, tenantId, dest.id))?.initializedAt)
    throw new ConflictError(`There is no repository on “${dest.name}” yet: run a backup first.`)
  return enqueue(db, {
    kind: 'rekey',
    tenantId,
    payload: { destinationId: dest.id, trigger },
    dedupeKey: rekeyJobKey(dest.id),
    maxAttempts: 3,
  })
}
