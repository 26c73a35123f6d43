import { safeZone, snapshotWhen } from '../../zoned.ts'
import type { Destination, Tenant } from '../../db/schema.ts'
import { findRepository, repositoryPassword } from '../../db/repositories.ts'
import { storedValues } from '../../db/destinations.ts'
import { NotFoundError } from '../../errors.ts'
import type { EngineDeps } from '../deps.ts'
import { guardPolicy, localRootOf } from '../../db/settings.ts'
import { catalogOf, latestComplete } from '../../db/snapshots.ts'

export type RecoveryKit = { repository: string; password: string; command: string; note: string }

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/**
 * Everything needed to restore without this panel: where the repository is, its password,
 * and the stock restic command.
 */
export function recoveryKit(deps: EngineDeps, tenant: Tenant, dest: Destination): RecoveryKit {
  const repo = findRepository(deps.db, tenant.id, dest.id)
  if (!repo?.initializedAt) throw new NotFoundError(`A repository on “${dest.name}”`)
  const entry = deps.drivers[dest.type]
  if (!entry) throw new NotFoundError('That destination type')
  const { settings, secrets } = storedValues(deps.config.secretKey, tenant.id, dest, entry.settings)
  const location = entry.repository(settings, secrets, {
    tenantName: tenant.name,
    localRoot: localRootOf(deps.db, deps.config),
    guard: guardPolicy(deps.db),
  })
  const password = repositoryPassword(deps.config.secretKey, repo)
  const command =
    `export RESTIC_REPOSITORY=${quote(location.repository)} RESTIC_PASSWORD=${quote(password)}` +
    Object.entries(location.env ?? {})
      .map(([k, v]) => ` ${k}=${quote(v)}`)
      .join('') +
    `\nrestic snapshots\n${restoreLine(deps, tenant, dest)}`
  return { repository: location.repository, password, command, note: location.note ?? '' }
}

/**
 * The restore line of the kit: the newest complete backup by id. Stock restic's `latest` is
 * simply the newest snapshot, which may be a safety copy taken before a restore in place, so
 * the kit names the snapshot the panel means by "latest" and says how to choose another.
 */
function restoreLine(deps: EngineDeps, tenant: Tenant, dest: Destination): string {
  const newest = latestComplete(catalogOf(deps.db, tenant.id, dest.id))
  if (!newest) {
    return `# Choose a snapshot tagged policy:… from the list above (not one tagged safety):\nrestic restore <snapshot id> --target ./restored`
  }
  const when = snapshotWhen(newest.time, tenant.timezone)
  return (
    `# Your newest complete backup (${when}, ${safeZone(tenant.timezone)}); restic's own "latest" may be a safety copy.\n` +
    `restic restore ${newest.snapshotId.slice(0, 8)} --target ./restored`
  )
}
