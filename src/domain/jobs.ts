import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import { activeJobs, enqueue } from '../db/jobs.ts'
import { getPolicy } from '../db/policies.ts'
import { getDestination } from '../db/destinations.ts'
import { getTenant, listTenantDatabases } from '../db/tenants.ts'
import { assertOnDemandAllowed } from './limits.ts'
import { InputError } from '../errors.ts'
import { folderProblem } from '../drivers/local/settings.ts'
import { databaseNameProblem } from '../names.ts'
import { policyJobKey, type Job, type RestorePayload } from '../db/job-payloads.ts'

/**
 * Queues a backup of a policy. At most one backup per policy is queued or running: a second
 * trigger while one is pending returns the pending job (`created: false`). On-demand triggers
 * (manual, cli, api) count against the tenant's runs per day: past it, LimitError says how
 * many were used and when the next is possible. Count and insert share one immediate
 * transaction, so two clicks at once cannot both take the last one.
 */
export async function requestBackup(
  db: Db,
  tenantId: number,
  policyId: number,
  trigger: 'manual' | 'cli' | 'api' | 'schedule',
): Promise<{ job: Job; created: boolean }> {
  const policy = await getPolicy(db, tenantId, policyId)
  const dedupeKey = policyJobKey(policy.id, 'backup')
  return transaction(db, async () => {
    if (trigger !== 'schedule') {
      const pending = (await activeJobs(db, tenantId)).find((j) => j.dedupeKey === dedupeKey)
      if (pending) return { job: pending, created: false }
      await assertOnDemandAllowed(db, await getTenant(db, tenantId))
    }
    return enqueue(db, {
      kind: 'backup',
      tenantId,
      payload: { policyId: policy.id, policyName: policy.name, trigger },
      dedupeKey,
    })
  })
}

/** Validates a restore request against the tenant's own objects and queues it. */
export async function requestRestore(
  db: Db,
  tenantId: number,
  input: RestorePayload,
): Promise<Job> {
  const dest = await getDestination(db, tenantId, input.destinationId)
  const errors: Record<string, string> = {}
  if (!/^[0-9a-f]{8,64}$/.test(input.snapshot)) errors.snapshot = 'Choose a snapshot.'
  if (input.paths.some((p) => !p.startsWith('/') || p.split('/').includes('..')))
    errors.paths = 'Choose paths from the snapshot.'
  if (
    input.databaseId !== undefined &&
    !(await listTenantDatabases(db, tenantId)).some((d) => d.id === input.databaseId)
  ) {
    errors.database = 'Choose one of your databases.'
  }
  if (input.mode === 'copy') {
    const name = input.newName?.trim() ?? ''
    const problem = input.databaseId !== undefined ? databaseNameProblem(name) : folderProblem(name)
    if (!name)
      errors.newName =
        input.databaseId !== undefined
          ? 'Enter a name for the new database.'
          : 'Enter a name for the new folder.'
    else if (problem) errors.newName = problem
  }
  if (Object.keys(errors).length) throw new InputError(errors)
  return (
    await enqueue(db, {
      kind: 'restore',
      tenantId,
      payload: { ...input, destinationId: dest.id, newName: input.newName?.trim() },
      maxAttempts: 2,
    })
  ).job
}
