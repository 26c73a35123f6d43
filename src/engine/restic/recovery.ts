import { safeZone, snapshotWhen } from '../../zoned.ts'
import type { Destination, Tenant } from '../../db/schema.ts'
import { findRepository, repositoryPassword } from '../../db/repositories.ts'
import { destinationValues } from '../../db/destinations.ts'
import { NotFoundError } from '../../errors.ts'
import type { EngineDeps } from '../deps.ts'
import { guardPolicy, localRootOf } from '../../db/settings.ts'
import { catalogOf, latestComplete } from '../../db/snapshots.ts'

/** What a kit holds: enough to restore with stock restic, without this panel. */
export type RecoveryKit = {
  /** restic's repository string (RESTIC_REPOSITORY). */
  repository: string
  /** The repository password the panel uses now (RESTIC_PASSWORD). */
  password: string
  /** Other variables stock restic needs, credentials included; empty in a tenant's kit for the host's storage. */
  env: Record<string, string>
  /** The shell lines: variables, `restic snapshots`, a restore line. */
  command: string
  note: string
}

/** The note of a tenant's kit for a copy of the host's own storage (no credentials in it). */
export const HOST_STORAGE_NOTE =
  'This storage belongs to your host: ask them for access to it, or download your backups from the Restore page.'

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/**
 * Everything needed to restore without this panel: where the repository is, its password,
 * and the stock restic command. For a tenant's copy of the host's storage
 * (`providerDestinationId`), the kit a tenant sees (`forAdmin: false`, the default) keeps the
 * location and the tenant's own repository password but no credential: `env` is empty and the
 * note says whom to ask. An admin's kit (`forAdmin: true`, escrow) is always complete.
 */
export async function recoveryKit(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  opts: { forAdmin: boolean } = { forAdmin: false },
): Promise<RecoveryKit> {
  const repo = await findRepository(deps.db, tenant.id, dest.id)
  if (!repo?.initializedAt) throw new NotFoundError(`A repository on “${dest.name}”`)
  const entry = deps.drivers[dest.type]
  if (!entry) throw new NotFoundError('That destination type')
  // A copy of the host's storage is opened with the host's secrets: only an admin's kit keeps them.
  const { db, config } = deps
  const { settings, secrets } = await destinationValues(
    db,
    config.secretKey,
    tenant.id,
    dest,
    entry.settings,
  )
  const location = entry.repository(settings, secrets, {
    tenantName: tenant.name,
    localRoot: await localRootOf(deps.db, deps.config),
    guard: await guardPolicy(deps.db),
  })
  const hostsOwn = dest.providerDestinationId !== null && !opts.forAdmin
  const env = hostsOwn ? {} : (location.env ?? {})
  const password = repositoryPassword(deps.config.secretKey, repo)
  const command =
    `export RESTIC_REPOSITORY=${quote(location.repository)} RESTIC_PASSWORD=${quote(password)}` +
    Object.entries(env)
      .map(([k, v]) => ` ${k}=${quote(v)}`)
      .join('') +
    `\nrestic snapshots\n${await restoreLine(deps, tenant, dest)}`
  const note = hostsOwn
    ? HOST_STORAGE_NOTE
    : ((opts.forAdmin ? location.note : (location.tenantNote ?? location.note)) ?? '')
  return { repository: location.repository, password, env, command, note }
}

/**
 * The restore line of the kit: the newest complete backup by id. Stock restic's `latest` is
 * simply the newest snapshot, which may be a safety copy taken before a restore in place, so
 * the kit names the snapshot the panel means by "latest" and says how to choose another.
 */
async function restoreLine(deps: EngineDeps, tenant: Tenant, dest: Destination): Promise<string> {
  const newest = latestComplete(await catalogOf(deps.db, tenant.id, dest.id))
  if (!newest) {
    return `# Choose a snapshot tagged policy:… from the list above (not one tagged safety):\nrestic restore <snapshot id> --target ./restored`
  }
  const when = snapshotWhen(newest.time, tenant.timezone)
  return (
    `# Your newest complete backup (${when}, ${safeZone(tenant.timezone)}); restic's own "latest" may be a safety copy.\n` +
    `restic restore ${newest.snapshotId.slice(0, 8)} --target ./restored`
  )
}
