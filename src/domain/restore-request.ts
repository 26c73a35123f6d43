import type { Job, Tenant } from '../db/schema.ts'
import { getDestination } from '../db/destinations.ts'
import { listTenantDatabases } from '../db/tenants.ts'
import { InputError } from '../errors.ts'
import type { EngineDeps } from '../engine/context.ts'
import type { RestorePayload } from '../engine/restore.ts'
import { ensureIndex, findSnapshot } from '../engine/snapshots.ts'
import { requestRestore } from './jobs.ts'

/**
 * Checks a restore request against what the snapshot really holds, then queues it: the web form,
 * the CLI and the API all come through here. Field errors are InputErrors keyed like the form.
 */
export async function requestRestoreChecked(deps: EngineDeps, tenant: Tenant, input: RestorePayload): Promise<Job> {
  const dest = getDestination(deps.db, tenant.id, input.destinationId)
  const snap = await findSnapshot(deps, tenant, dest, input.snapshot)
  if (input.databaseId !== undefined) {
    const row = listTenantDatabases(deps.db, tenant.id).find((d) => d.id === input.databaseId)
    if (row) {
      await ensureIndex(deps, tenant, dest, snap)
      const fresh = await findSnapshot(deps, tenant, dest, input.snapshot)
      if (!fresh.databases.includes(`${row.engine}-${row.name}`)) {
        throw new InputError({ database: `This backup holds no copy of the database ${row.name}: choose another backup.` })
      }
    }
  }
  return requestRestore(deps.db, tenant.id, input)
}
