import { eq } from 'drizzle-orm'
import { randomInt } from 'node:crypto'
import type { Db } from './client.ts'
import { transaction, rowsChanged } from './tx.ts'
import { panelSettings } from './schema.ts'
import { open, seal } from '../secret-box.ts'

/**
 * The panel's own backup (self-backup) keeps its state in `panel_settings` under the keys
 * below; `getAdminSettings` ignores them.
 */
const KEYS = {
  settings: 'selfBackup',
  password: 'selfBackupPassword',
  run: 'selfBackupRun',
  last: 'selfBackupLast',
  request: 'selfBackupRequest',
} as const

/** The key of the claim row (a restored copy clears it: see the engine's staging). */
export const SELF_BACKUP_RUN_KEY = KEYS.run

const PASSWORD_CONTEXT = 'self-backup-password'

/** A run whose heartbeat is older than this died with its process: the next run may start. */
export const SELF_BACKUP_STALE_MS = 2 * 60_000

/** Admin > Panel backup: where the daily backup goes, when, and whether it runs. */
export type SelfBackupSettings = {
  /** A provider destination's id; null until the admin chooses one. */
  destinationId: number | null
  /** `HH:MM` in the server's time zone. */
  time: string
  enabled: boolean
  /** When the settings were saved (ms): a daily slot before it never runs. */
  savedAt: number
}

/** The outcome of the newest self-backup, in the words the page and the CLI show. */
export type SelfBackupResult = {
  ok: boolean
  /** When it ended (ms). */
  at: number
  durationMs: number
  destination: string | null
  trigger: 'schedule' | 'web' | 'cli'
  snapshot?: string
  /** Bytes of the copies backed up (database, key, settings) and what was new to the repository. */
  bytes?: number
  added?: number
  /** Plain reason of a failure. */
  error?: string
  /** The backup itself succeeded but retention did not (the old snapshots stay). */
  retentionError?: string
}

/** Who holds the self-backup now (`startedAt` set) and the last daily slot claimed. */
export type SelfBackupRun = {
  slot: string | null
  startedAt: number | null
  heartbeatAt: number | null
}

async function read<T>(db: Db, key: string): Promise<T | undefined> {
  return (await db.select().from(panelSettings).where(eq(panelSettings.key, key)))[0]?.value as
    T | undefined
}

async function write(db: Db, key: string, value: unknown): Promise<void> {
  await db
    .insert(panelSettings)
    .values({ key, value })
    .onConflictDoUpdate({ target: panelSettings.key, set: { value } })
}

export async function getSelfBackupSettings(db: Db): Promise<SelfBackupSettings> {
  return {
    destinationId: null,
    time: '03:00',
    enabled: false,
    savedAt: 0,
    ...(await read<Partial<SelfBackupSettings>>(db, KEYS.settings)),
  }
}

export async function saveSelfBackupSettings(
  db: Db,
  settings: Omit<SelfBackupSettings, 'savedAt'>,
) {
  await write(db, KEYS.settings, { ...settings, savedAt: Date.now() })
}

/** The repository password, or null before the first self-backup (or setup) made one. */
export async function selfBackupPassword(db: Db, key: Buffer): Promise<string | null> {
  const sealed = await read<string>(db, KEYS.password)
  return sealed ? open(key, sealed, PASSWORD_CONTEXT) : null
}

/**
 * The repository password, made on first use: 24 random characters (120 bits) from an alphabet
 * without look-alikes, in groups of four, easy to write down. `created` is true only for the
 * call that made it (two processes at once: one makes it, the other reads it).
 */
export async function ensureSelfBackupPassword(
  db: Db,
  key: Buffer,
): Promise<{ password: string; created: boolean }> {
  const existing = await selfBackupPassword(db, key)
  if (existing) return { password: existing, created: false }
  const password = newPassword()
  const inserted = await db
    .insert(panelSettings)
    .values({ key: KEYS.password, value: seal(key, password, PASSWORD_CONTEXT) })
    .onConflictDoNothing()
  if (rowsChanged(inserted) === 1) return { password, created: true }
  return { password: (await selfBackupPassword(db, key))!, created: false }
}

const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789' // 31 signs, no i l o 0 1
function newPassword(): string {
  const signs = Array.from({ length: 24 }, () => ALPHABET[randomInt(ALPHABET.length)])
  return signs.join('').match(/.{4}/g)!.join('-')
}

export async function getSelfBackupRun(db: Db): Promise<SelfBackupRun> {
  return { slot: null, startedAt: null, heartbeatAt: null, ...(await read(db, KEYS.run)) }
}

/** The run in progress (its start), or null when none is alive. */
export async function selfBackupRunning(db: Db, now = Date.now()): Promise<Date | null> {
  const run = await getSelfBackupRun(db)
  if (!run.startedAt || (run.heartbeatAt ?? 0) < now - SELF_BACKUP_STALE_MS) return null
  return new Date(run.startedAt)
}

export type Claim = { ok: true } | { ok: false; running: Date | null }

/**
 * Takes the self-backup for this process, in one BEGIN IMMEDIATE transaction so two runner
 * processes (or the CLI and a runner) never both run it. Refused while another run's heartbeat
 * is fresh; with `slot` (a daily slot such as `2026-12-03`), when that slot was taken already;
 * with `requested`, when no Back up now is waiting (which the claim then takes). `running` is
 * null for the last two.
 */
export async function claimSelfBackup(
  db: Db,
  opts: { slot?: string; requested?: boolean; now?: number } = {},
): Promise<Claim> {
  const now = opts.now ?? Date.now()
  return await transaction(db, async (): Promise<Claim> => {
    const run = await getSelfBackupRun(db)
    if (opts.slot && run.slot === opts.slot) return { ok: false, running: null }
    if (opts.requested && !(await selfBackupRequested(db))) return { ok: false, running: null }
    const running = await selfBackupRunning(db, now)
    if (running) return { ok: false, running }
    if (opts.requested) await db.delete(panelSettings).where(eq(panelSettings.key, KEYS.request))
    await write(db, KEYS.run, { slot: opts.slot ?? run.slot, startedAt: now, heartbeatAt: now })
    return { ok: true }
  })
}

/** Asks the runner for a panel backup now (Back up now when the web process runs no runner). */
export async function requestSelfBackup(db: Db): Promise<void> {
  await write(db, KEYS.request, { at: Date.now() })
}

/** When a Back up now is waiting for the runner, or null. */
export async function selfBackupRequested(db: Db): Promise<Date | null> {
  const at = (await read<{ at: number }>(db, KEYS.request))?.at
  return at ? new Date(at) : null
}

/** Keeps this process's claim alive (every SELF_BACKUP_STALE_MS / 4). */
export async function heartbeatSelfBackup(db: Db): Promise<void> {
  await write(db, KEYS.run, { ...(await getSelfBackupRun(db)), heartbeatAt: Date.now() })
}

/** Records the outcome and releases the claim. */
export async function finishSelfBackup(db: Db, result: SelfBackupResult): Promise<void> {
  await transaction(db, async () => {
    await write(db, KEYS.last, result)
    await write(db, KEYS.run, {
      ...(await getSelfBackupRun(db)),
      startedAt: null,
      heartbeatAt: null,
    })
  })
}

/** Releases the claim without a result (the run never started its work). */
export async function releaseSelfBackup(db: Db): Promise<void> {
  await write(db, KEYS.run, { ...(await getSelfBackupRun(db)), startedAt: null, heartbeatAt: null })
}

export async function lastSelfBackup(db: Db): Promise<SelfBackupResult | null> {
  return (await read<SelfBackupResult>(db, KEYS.last)) ?? null
}
