import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { readdirSync, readlinkSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { EngineDeps } from '../deps.ts'
import { findProviderDestinationByName } from '../../db/provider-destinations.ts'
import { StorageError } from '../../drivers/types.ts'
import { ConflictError, NotFoundError } from '../../errors.ts'
import { resticJson, runRestic } from '../restic/restic.ts'
import { openPanelRepository, SELF_BACKUP_TAG } from './panel-repo.ts'

/** What a self-restore did, for the CLI to print. */
export type SelfRestoreDone = {
  snapshot: string
  time: string
  destination: string
  /** Where the database and key that were replaced now are (null: there was none). */
  previousDb: string | null
  previousKey: string | null
  /** false: the backup holds no secret.key, the panel used PANEL_SECRET_KEY (set it again). */
  restoredKey: boolean
  /** panel-settings.json of the backup (version, host, data dir layout, admin settings). */
  settings: Record<string, any> | null
}

type Snapshot = { id: string; time: string; paths: string[] }

/**
 * Other processes with `<data>/panel.db` open (from /proc; empty where /proc cannot be read).
 * The calling process itself does not count.
 */
export function processesUsing(path: string): number[] {
  const pids: number[] = []
  let entries: string[] = []
  try {
    entries = readdirSync('/proc').filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)
  } catch {
    return pids
  }
  for (const pid of entries) {
    try {
      const fds = readdirSync(`/proc/${pid}/fd`)
      if (fds.some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === path)) pids.push(Number(pid))
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids
}

/**
 * Rebuilds the data folder from the newest self-backup on the provider destination named:
 * restores it into `<work>/_panel-self-restore` (0700, removed afterwards), checks it (SQLite
 * integrity_check, a panel database, a 32-byte key), calls `beforeInstall` (close the database
 * handle), then moves the current panel.db (with its -wal/-shm) and secret.key aside as
 * `*.before-self-restore` and renames the restored ones into place (0600). A wrong password or
 * a failed check leaves the data folder as it was.
 */
export async function restoreSelfBackup(
  deps: EngineDeps,
  opts: { destination: string; password: string; signal?: AbortSignal; beforeInstall(): void },
): Promise<SelfRestoreDone> {
  const { dataDir, workDir } = deps.config
  const dbPath = join(dataDir, 'panel.db')
  const users = processesUsing(dbPath)
  if (users.length) {
    throw new ConflictError(
      `A panel process (pid ${users.join(', ')}) is using ${dbPath}: stop the panel first.`,
    )
  }
  const dest = await findProviderDestinationByName(deps.db, opts.destination)
  if (!dest) throw new NotFoundError(`The provider destination “${opts.destination}”`)
  const stage = join(workDir, '_panel-self-restore')
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(workDir, { recursive: true, mode: 0o711 })
  mkdirSync(stage, { mode: 0o700 })
  chmodSync(stage, 0o700)
  try {
    const repo = await openPanelRepository(deps, dest, {
      password: opts.password,
      cacheDir: join(stage, 'cache'),
      signal: opts.signal ?? new AbortController().signal,
      create: false,
    }).catch((err) => {
      if (err instanceof StorageError && err.code === 'NotFound')
        throw new ConflictError(`There is no panel backup on “${dest.name}”.`)
      throw err
    })
    let snap: Snapshot | undefined
    try {
      const list = await resticJson<Snapshot>(['snapshots', '--tag', SELF_BACKUP_TAG], repo.env)
      snap = list.sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0]
      if (!snap) throw new ConflictError(`There is no panel backup on “${dest.name}” yet.`)
      await runRestic(['restore', snap.id, '--target', join(stage, 'files')], repo.env)
    } finally {
      await repo.close()
    }
    const folder = join(stage, 'files', snap.paths[0]!)
    const restoredKey = checkCopies(folder)
    opts.beforeInstall()
    const previousDb = install(folder, dataDir, 'panel.db', ['-wal', '-shm'])
    const previousKey = restoredKey ? install(folder, dataDir, 'secret.key', []) : null
    return {
      snapshot: snap.id,
      time: snap.time,
      destination: dest.name,
      previousDb,
      previousKey,
      restoredKey,
      settings: readSettings(folder),
    }
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

/** Checks the restored copies; returns whether the backup holds a secret.key. */
function checkCopies(folder: string): boolean {
  const dbFile = join(folder, 'panel.db')
  if (!existsSync(dbFile)) throw new ConflictError('The panel backup holds no panel.db.')
  const db = new Database(dbFile, { readonly: true })
  try {
    const check = db.pragma('integrity_check', { simple: true })
    if (check !== 'ok') throw new ConflictError(`The backed-up database is damaged: ${check}`)
    const panel = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'panel_settings'")
      .get()
    if (!panel) throw new ConflictError('The backed-up panel.db is not a panel database.')
  } finally {
    db.close()
  }
  const keyFile = join(folder, 'secret.key')
  if (!existsSync(keyFile)) return false
  const text = readFileSync(keyFile, 'utf8').trim()
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64')
  if (key.length !== 32)
    throw new ConflictError('The backed-up secret.key is damaged (it is not 32 bytes).')
  return true
}

/**
 * Puts `<folder>/<name>` in place of `<dataDir>/<name>`: the current file (and its `suffixes`,
 * e.g. SQLite's -wal and -shm) is renamed to `<name>.before-self-restore…`, the restored one is
 * copied beside its target (0600) and renamed into place. Returns where the previous one went.
 */
function install(folder: string, dataDir: string, name: string, suffixes: string[]): string | null {
  const target = join(dataDir, name)
  const aside = join(dataDir, `${name}.before-self-restore`)
  const temp = join(dataDir, `.${name}.self-restore`)
  copyFileSync(join(folder, name), temp)
  chmodSync(temp, 0o600)
  let previous: string | null = null
  if (existsSync(target)) {
    renameSync(target, aside)
    previous = aside
  }
  // Stale journal files would be replayed into the restored database: they go with the old one.
  for (const suffix of suffixes) {
    if (existsSync(target + suffix)) renameSync(target + suffix, aside + suffix)
    else rmSync(aside + suffix, { force: true })
  }
  renameSync(temp, target)
  return previous
}

function readSettings(folder: string): Record<string, any> | null {
  try {
    return JSON.parse(readFileSync(join(folder, 'panel-settings.json'), 'utf8'))
  } catch {
    return null
  }
}
