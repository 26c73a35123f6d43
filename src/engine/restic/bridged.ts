import type { Driver } from '../../drivers/types.ts'
import { StorageError } from '../../drivers/types.ts'
import { withLimit, withRetry } from '../../drivers/with-retry.ts'
import { NOT_REREADABLE, startBridge, type Bridge } from './bridge.ts'
import { runRestic, type ResticEnv } from './restic.ts'
import type { RunAs } from '../host/isolation.ts'

/**
 * How long a destination may fail every request before the attempt stops: restic 0.14 would
 * otherwise retry for about five minutes. The job itself is retried later with backoff.
 */
export const GIVE_UP_MS = 60_000

/** A restic repository on any driver, opened through a fresh storage bridge. */
export type BridgedRepo = {
  env: ResticEnv
  bridge: Bridge
  driver: Driver
  /** Why the destination failed (a fatal error, else the last one restic retried past), if it did. */
  storageError: () => StorageError | null
  /** The full id of a snapshot this handle stored, from restic's (short) summary id. */
  fullId(id: string): string
  /** Stops the bridge and releases the destination's connections. */
  close(): Promise<void>
}

export type BridgedOptions = {
  password: string
  cacheDir: string
  runAs: RunAs
  signal: AbortSignal
  /** IANA zone for restic's days, weeks and months (retention); default UTC. */
  timezone?: string
  /** Initialize the repository when there is none (else: NotFound, in plain words). */
  create: boolean
  /** Remove every lock first: only when the caller knows no other restic can hold one. */
  clearLocks?: boolean
  /** Called once the repository exists (found or just made), before any lock is cleared. */
  afterInit?: () => Promise<void>
}

/**
 * Opens the repository that `raw` (a driver already rooted at the repository's folder or
 * prefix) holds, behind a loopback bridge: restic sees only the bridge URL and the password. A
 * storage error that retrying cannot fix (or a full disk) aborts restic at once; a destination
 * that fails every request for GIVE_UP_MS does too. `raw` is closed with the handle, or at once
 * when opening fails.
 */
export async function openBridged(raw: Driver, opts: BridgedOptions): Promise<BridgedRepo> {
  const abort = new AbortController()
  opts.signal.addEventListener('abort', () => abort.abort(opts.signal.reason), { once: true })
  let fatal: StorageError | null = null
  // The last error restic retried past: if restic then gives up, this is the plain reason.
  let last: StorageError | null = null
  // When the current run of failures began; any success ends it.
  let failingSince: number | null = null
  const written: string[] = []
  const giveUp = (err: StorageError) => {
    fatal ??= err
    abort.abort(err)
  }
  // watch() sits under withRetry so the first disk-full or permanent error stops restic at once;
  // withLimit keeps restic's parallel requests within what the destination tolerates.
  const watched = watch(
    raw,
    (err) => {
      // A retried bridge upload says nothing about the destination; restic re-sends it.
      if (err.code === 'NotFound' || err.message === NOT_REREADABLE) return
      last = err
      failingSince ??= Date.now()
      if (err.permanent || err.code === 'NoSpace') giveUp(err)
      else if (Date.now() - failingSince > GIVE_UP_MS) {
        const secs = Math.round(GIVE_UP_MS / 1000)
        giveUp(
          new StorageError(
            err.code,
            `${err.message} (still failing after ${secs} s; stopped this attempt)`,
            { cause: err },
          ),
        )
      }
    },
    () => void (failingSince = null),
    written,
  )
  const driver = withLimit(withRetry(watched), raw.capabilities.maxConnections)
  let bridge: Bridge
  try {
    bridge = await startBridge(driver)
  } catch (err) {
    await raw.close?.().catch(() => {})
    throw err
  }
  const close = async () => {
    await bridge.close()
    await raw.close?.().catch(() => {})
  }
  const env: ResticEnv = {
    repository: bridge.url,
    password: opts.password,
    cacheDir: opts.cacheDir,
    runAs: opts.runAs,
    signal: abort.signal,
    timezone: opts.timezone,
    tally: [],
  }
  try {
    const exists = await raw.stat('config').then(
      () => true,
      (err) =>
        err instanceof StorageError && err.code === 'NotFound' ? false : Promise.reject(err),
    )
    if (!exists) {
      if (!opts.create)
        throw new StorageError('NotFound', 'There is no backup repository at this destination yet.')
      await runRestic(['init'], env)
    }
    await opts.afterInit?.()
    if (opts.clearLocks && exists) await runRestic(['unlock', '--remove-all'], env)
  } catch (err) {
    await close()
    throw fatal ?? err
  }
  return {
    env,
    bridge,
    driver,
    storageError: () => fatal ?? last,
    fullId: (id) => written.find((w) => w.startsWith(id)) ?? id,
    close,
  }
}

/** Calls `onError` for every StorageError the driver rejects with (then rethrows), `onOk` on success. */
function watch(
  driver: Driver,
  onError: (err: StorageError) => void,
  onOk: () => void,
  written: string[],
): Driver {
  const seen = <T>(p: Promise<T>) =>
    p.then(
      (value) => {
        onOk()
        return value
      },
      (err) => {
        if (err instanceof StorageError && err.code !== 'NotFound') onError(err)
        else onOk()
        throw err
      },
    )
  return {
    capabilities: driver.capabilities,
    put: (key, open, o) => {
      // restic 0.14's summary gives only a short snapshot id; the object it writes has the full one.
      if (key.startsWith('snapshots/')) written.push(key.slice('snapshots/'.length))
      return seen(driver.put(key, open, o))
    },
    get: (key, o) => seen(driver.get(key, o)),
    list: (prefix, o) => driver.list(prefix, o),
    stat: (key, o) => seen(driver.stat(key, o)),
    remove: (key, o) => seen(driver.remove(key, o)),
    close: driver.close?.bind(driver),
  }
}
