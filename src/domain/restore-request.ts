import type { Tenant } from '../db/schema.ts'
import { getDestination } from '../db/destinations.ts'
import { listTenantDatabases } from '../db/tenants.ts'
import { dumpKey, getCatalogSnapshot } from '../db/snapshots.ts'
import { ConflictError, InputError } from '../errors.ts'
import type { EngineDeps } from '../engine/deps.ts'
import { plainReason } from '../engine/restic/failure.ts'
import type { Job, RestorePayload } from '../db/job-payloads.ts'
import { databaseNameTaken, nameTaken } from '../engine/jobs/restore-db.ts'
import { ensureIndex, findSnapshot } from '../engine/restic/snapshots.ts'
import { requestRestore } from './jobs.ts'
import { databaseNameProblem } from '../names.ts'
import { folderProblem } from '../drivers/local/settings.ts'
import { statAs } from '../engine/host/sandbox.ts'
import { runAsFor } from '../engine/host/isolation.ts'
import { join } from 'node:path'

/**
 * Checks a restore request against what the snapshot really holds and, for a database under a
 * new name, against the database server (asked as the tenant's database user: is the name
 * free?), then queues it: the web form, the CLI and the API all come through here. Field
 * errors are InputErrors keyed like the form (`database`, `newName`); a server that cannot be
 * asked is a ConflictError. The job checks all of it again when it runs.
 */
export async function requestRestoreChecked(
  deps: EngineDeps,
  tenant: Tenant,
  input: RestorePayload,
): Promise<Job> {
  const dest = await getDestination(deps.db, tenant.id, input.destinationId)
  const snap = await findSnapshot(deps, tenant, dest, input.snapshot)
  if (input.databaseId !== undefined) {
    const row = (await listTenantDatabases(deps.db, tenant.id)).find(
      (d) => d.id === input.databaseId,
    )
    if (row) {
      const errors: Record<string, string> = {}
      // The index teaches a snapshot without `db:` tags which dumps it holds.
      await ensureIndex(deps, tenant, dest, snap)
      const { databases } = await getCatalogSnapshot(deps.db, tenant.id, dest.id, snap.id)
      if (!databases.includes(dumpKey(row))) {
        errors.database = `This backup holds no copy of the database ${row.name}: choose another backup.`
      }
      const name = input.newName?.trim() ?? ''
      if (input.mode === 'copy' && name && !databaseNameProblem(name)) {
        const taken = await databaseNameTaken(deps, tenant, row, name).catch((err) => {
          throw new ConflictError(
            `The database server could not be asked whether ${name} is free: ${plainReason(err)}`,
          )
        })
        if (taken) errors.newName = nameTaken(name)
      }
      if (Object.keys(errors).length) throw new InputError(errors)
    }
  } else if (input.mode === 'copy') {
    // Asked as the tenant: a name already taken in the home is said beside the field, not later.
    const name = input.newName?.trim() ?? ''
    if (name && !folderProblem(name)) {
      const [found] = await statAs(runAsFor(tenant), [join(tenant.homeDir, name)])
      if (found && found.type !== 'missing') {
        throw new InputError({
          newName: `A folder named “${name}” already exists in your home: choose another name.`,
        })
      }
    }
  }
  return requestRestore(deps.db, tenant.id, input)
}
