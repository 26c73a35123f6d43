import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { inProject } from '../../project-root.ts'
import type { EngineDeps } from '../deps.ts'
import { isPostgres } from '../../db/dialect.ts'
import type { ProviderDestination } from '../../db/schema.ts'
import {
  findProviderDestinationByName,
  getProviderDestination,
} from '../../db/provider-destinations.ts'
import { getAdminSettings } from '../../db/settings.ts'
import {
  claimSelfBackup,
  ensureSelfBackupPassword,
  finishSelfBackup,
  getSelfBackupSettings,
  heartbeatSelfBackup,
  SELF_BACKUP_RUN_KEY,
  SELF_BACKUP_STALE_MS,
  type SelfBackupResult,
} from '../../db/self-backup.ts'
import { ConflictError, NotFoundError } from '../../errors.ts'
import { runRestic } from '../restic/restic.ts'
import { plainReason } from '../restic/failure.ts'
import {
  checkOutsideDataDir,
  openPanelRepository,
  secretKeySource,
  SELF_BACKUP_TAG,
  serverTimeZone,
} from './panel-repo.ts'

/** Retention after each successful self-backup. */
export const SELF_BACKUP_KEEP = ['--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '12']

const packageJson = inProject('package.json')

export type SelfBackupOptions = {
  /** A provider destination's name; default: the one chosen under Admin > Panel backup. */
  destination?: string
  trigger: SelfBackupResult['trigger']
  signal?: AbortSignal
  /** The caller holds the claim already (the scheduler claims its daily slot). */
  claimed?: boolean
}

/** A successful self-backup; `password` only when this run made it (show it once). */
export type SelfBackupDone = SelfBackupResult & {
  ok: true
  password: string | null
  secretKey: 'file' | 'environment'
}

/** The provider destination named, else the one chosen under Admin > Panel backup. */
export async function selfBackupDestination(
  deps: EngineDeps,
  name?: string,
): Promise<ProviderDestination> {
  if (name) {
    const dest = await findProviderDestinationByName(deps.db, name)
    if (!dest) throw new NotFoundError(`The provider destination “${name}”`)
    return dest
  }
  const { destinationId } = await getSelfBackupSettings(deps.db)
  if (destinationId === null) {
    throw new ConflictError(
      'No destination is chosen for the panel backup: pass --destination NAME, or choose one under Admin > Panel backup.',
    )
  }
  return await getProviderDestination(deps.db, destinationId)
}

/**
 * Backs up the panel itself to a provider destination (`<destination>/_panel`): a consistent
 * copy of the database (SQLite's online backup API), `secret.key` (unless the key comes from
 * PANEL_SECRET_KEY) and `panel-settings.json`, staged in `<work>/_panel-self-backup` (0700,
 * removed afterwards whatever happens; a killed run's leftovers go at the next run). Takes the
 * self-backup claim unless `claimed`; applies retention (7 daily, 4 weekly, 12 monthly) only
 * after a successful backup. Records the outcome (also a failure) for Admin > Panel backup.
 */
/** Why there is no panel backup on PostgreSQL, and what to do instead. */
export const ON_POSTGRES =
  'The panel database is PostgreSQL: back it up with pg_dump or your database backups, and keep ' +
  'a copy of the secret key (PANEL_SECRET_KEY or secret.key). The panel backup covers the ' +
  'embedded SQLite database only.'

export async function runSelfBackup(
  deps: EngineDeps,
  opts: SelfBackupOptions,
): Promise<SelfBackupDone> {
  if (isPostgres(deps.db)) throw new ConflictError(ON_POSTGRES)
  // A typo in --destination is refused before the claim and is not recorded as a failed backup.
  const named = opts.claimed ? null : await selfBackupDestination(deps, opts.destination)
  if (!opts.claimed) {
    const claim = await claimSelfBackup(deps.db)
    if (!claim.ok) {
      const since = claim.running?.toTimeString().slice(0, 5) ?? 'just now'
      throw new ConflictError(
        `A panel backup is already running (started ${since}); try again when it has finished.`,
      )
    }
  }
  const started = Date.now()
  const beat = setInterval(() => {
    heartbeatSelfBackup(deps.db).catch((err) =>
      console.error(`[self-backup] heartbeat failed: ${(err as Error).message}`),
    )
  }, SELF_BACKUP_STALE_MS / 4)
  const stage = join(deps.config.workDir, '_panel-self-backup')
  const base = { at: 0, destination: named?.name ?? null, trigger: opts.trigger }
  try {
    const dest = named ?? (await selfBackupDestination(deps, opts.destination))
    base.destination = dest.name
    await checkOutsideDataDir(deps, dest)
    const { password, created } = await ensureSelfBackupPassword(deps.db, deps.config.secretKey)
    const secretKey = secretKeySource(deps)
    const folder = await stageCopies(deps, stage, secretKey)
    const bytes = sizeOf(folder)
    const signal = opts.signal ?? new AbortController().signal
    const repo = await openPanelRepository(deps, dest, {
      password,
      cacheDir: join(stage, 'cache'),
      signal,
      create: true,
    })
    let result: SelfBackupDone
    try {
      let summary: Record<string, any> | null = null
      const args = ['backup', '--json', '--tag', SELF_BACKUP_TAG, '--', folder]
      await runRestic(args, repo.env, {
        onJson: (m) => void (m.message_type === 'summary' && (summary = m)),
      }).catch((err) => Promise.reject(repo.storageError() ?? err))
      const s = summary as Record<string, any> | null
      const done = Date.now()
      result = {
        ...base,
        ok: true,
        at: done,
        durationMs: done - started,
        snapshot: s?.snapshot_id ? repo.fullId(String(s.snapshot_id)) : undefined,
        bytes,
        added: Number(s?.data_added ?? 0),
        password: created ? password : null,
        secretKey,
      }
      // Retention only after a good backup: a failing destination never loses its last copies.
      const forget = ['forget', '--tag', SELF_BACKUP_TAG, '--group-by', '', ...SELF_BACKUP_KEEP]
      await runRestic([...forget, '--prune'], repo.env).catch((err) => {
        result.retentionError = plainReason(repo.storageError() ?? err)
      })
    } finally {
      await repo.close()
    }
    const { password: _, secretKey: __, ...recorded } = result
    await finishSelfBackup(deps.db, recorded)
    return result
  } catch (err) {
    const at = Date.now()
    const error = plainReason(err)
    await finishSelfBackup(deps.db, { ...base, ok: false, at, durationMs: at - started, error })
    throw err
  } finally {
    clearInterval(beat)
    rmSync(stage, { recursive: true, force: true })
  }
}

/**
 * Writes `<stage>/panel/` (0700): panel.db through SQLite's online backup API, secret.key when
 * the key is a file, and panel-settings.json. The stage is emptied first: only the holder of the
 * claim writes here, so anything present is a killed run's leftover.
 */
async function stageCopies(
  deps: EngineDeps,
  stage: string,
  secretKey: 'file' | 'environment',
): Promise<string> {
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(deps.config.workDir, { recursive: true, mode: 0o711 })
  mkdirSync(stage, { mode: 0o700 })
  chmodSync(stage, 0o700)
  const folder = join(stage, 'panel')
  mkdirSync(folder, { mode: 0o700 })
  const db = join(folder, 'panel.db')
  await deps.db.$client.backup(db)
  chmodSync(db, 0o600)
  releaseInCopy(db)
  if (secretKey === 'file') {
    copyFileSync(join(deps.config.dataDir, 'secret.key'), join(folder, 'secret.key'))
    chmodSync(join(folder, 'secret.key'), 0o600)
  }
  const version = JSON.parse(readFileSync(packageJson, 'utf8')).version as string
  const settings = {
    panel: { version },
    createdAt: new Date().toISOString(),
    hostname: hostname(),
    timeZone: serverTimeZone(),
    dataDir: deps.config.dataDir,
    layout: {
      database: 'panel.db',
      secretKey: secretKey === 'file' ? 'secret.key' : 'PANEL_SECRET_KEY (not in this backup)',
      localRoot: deps.config.localRoot,
      workDir: deps.config.workDir,
    },
    adminSettings: await getAdminSettings(deps.db),
    selfBackup: await getSelfBackupSettings(deps.db),
  }
  writeFileSync(join(folder, 'panel-settings.json'), JSON.stringify(settings, null, 2) + '\n', {
    mode: 0o600,
  })
  return folder
}

/** The copy is taken mid-run: a restored panel must not think this run is still going. */
function releaseInCopy(path: string): void {
  const copy = new Database(path)
  try {
    copy
      .prepare(
        "UPDATE panel_settings SET value = json_set(value, '$.startedAt', null, '$.heartbeatAt', null) WHERE key = ?",
      )
      .run(SELF_BACKUP_RUN_KEY)
  } finally {
    copy.close()
  }
}

function sizeOf(folder: string): number {
  return ['panel.db', 'secret.key', 'panel-settings.json'].reduce((sum, name) => {
    try {
      return sum + statSync(join(folder, name)).size
    } catch {
      return sum
    }
  }, 0)
}
