import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path'
import type { EngineDeps } from '../deps.ts'
import type { ProviderDestination } from '../../db/schema.ts'
import { providerValues } from '../../db/provider-destinations.ts'
import { guardPolicy, localRootOf } from '../../db/settings.ts'
import { StorageError } from '../../drivers/types.ts'
import { ConflictError } from '../../errors.ts'
import { openBridged, type BridgedRepo } from '../restic/bridged.ts'

/**
 * The prefix the panel's own backup lives under on a provider destination, in place of a
 * tenant name. Tenant names start with a letter (TENANT_NAME), so no tenant can ever own it.
 */
export const PANEL_PREFIX = '_panel'

/** Every self-backup snapshot carries this tag; restore and retention look only at these. */
export const SELF_BACKUP_TAG = 'panel-self-backup'

/** The server's IANA time zone (the daily time and restic's days are in it). */
export function serverTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
}

/** Where a Local provider destination keeps the panel's backup; null for remote types. */
export async function localFolderOf(
  deps: EngineDeps,
  dest: ProviderDestination,
): Promise<string | null> {
  if (dest.type !== 'local') return null
  const entry = deps.drivers[dest.type]!
  const { settings, secrets } = providerValues(deps.config.secretKey, dest, entry.settings)
  return entry.repository(settings, secrets, await context(deps)).repository
}

async function context(deps: EngineDeps) {
  return {
    tenantName: PANEL_PREFIX,
    localRoot: await localRootOf(deps.db, deps.config),
    guard: await guardPolicy(deps.db),
  }
}

/** `path` with symlinks resolved as far as it exists (the rest may not be made yet). */
function realish(path: string): string {
  const abs = resolve(path)
  if (existsSync(abs)) return realpathSync(abs)
  const parent = dirname(abs)
  return parent === abs ? abs : join(realish(parent), basename(abs))
}

/** True when `path` is `dir` or lies below it, symlinks resolved. */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(realish(dir), realish(path))
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

/**
 * Refuses a Local provider destination whose folder lies inside the data directory: deleting
 * the data folder (the very loss the backup is for) would delete the backup with it.
 */
export async function checkOutsideDataDir(
  deps: EngineDeps,
  dest: ProviderDestination,
): Promise<void> {
  const folder = await localFolderOf(deps, dest)
  if (folder && isInside(folder, deps.config.dataDir)) {
    throw new ConflictError(
      `“${dest.name}” keeps its files in ${folder}, inside the panel’s data folder ` +
        `${deps.config.dataDir}: deleting the data folder would delete the panel backup too. ` +
        'Choose a provider destination stored elsewhere (for Local, set the local backup root ' +
        'outside the data folder).',
    )
  }
}

/** Where the master key comes from: `<data>/secret.key`, or PANEL_SECRET_KEY (not in the backup). */
export function secretKeySource(deps: EngineDeps): 'file' | 'environment' {
  const file = join(deps.config.dataDir, 'secret.key')
  if (!existsSync(file)) return 'environment'
  const text = readFileSync(file, 'utf8').trim()
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64')
  return key.equals(deps.config.secretKey) ? 'file' : 'environment'
}

/**
 * Opens the panel's own repository on a provider destination (`<destination>/_panel`) through
 * the storage bridge, as the panel's own user.
 */
export async function openPanelRepository(
  deps: EngineDeps,
  dest: ProviderDestination,
  opts: { password: string; cacheDir: string; signal: AbortSignal; create: boolean },
): Promise<BridgedRepo> {
  const entry = deps.drivers[dest.type]
  if (!entry) throw new StorageError('BadConfig', `Unknown destination type “${dest.type}”.`)
  const { settings, secrets } = providerValues(deps.config.secretKey, dest, entry.settings)
  const raw = entry.open(settings, secrets, await context(deps))
  return openBridged(raw, {
    password: opts.password,
    cacheDir: opts.cacheDir,
    runAs: null,
    signal: opts.signal,
    timezone: serverTimeZone(),
    create: opts.create,
  })
}
