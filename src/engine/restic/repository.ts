import type { Destination, Tenant } from '../../db/schema.ts'
import type { EngineDeps } from '../deps.ts'
import type { Driver } from '../../drivers/types.ts'
import { StorageError } from '../../drivers/types.ts'
import { destinationValues } from '../../db/destinations.ts'
import { withLimit, withRetry } from '../../drivers/with-retry.ts'
import { repositoryFor, repositoryPassword, markInitialized } from '../../db/repositories.ts'
import { NOT_REREADABLE, startBridge, type Bridge } from './bridge.ts'
import { runRestic, type ResticEnv } from './restic.ts'
import type { RunAs } from '../host/isolation.ts'
import { join } from 'node:path'
import { guardPolicy, localRootOf } from '../../db/settings.ts'

/**
 * How long a destination may fail every request before the attempt stops: restic 0.14 would
 * otherwise retry for about five minutes. The job itself is retried later with backoff.
 */
export const GIVE_UP_MS = 60_000

/** A restic repository opened through a fresh storage bridge for one job. */
export type OpenRepo = {
  env: ResticEnv
  bridge: Bridge
  driver: Driver
  repositoryId: number
  /** Why the destination failed (a fatal error, else the last one restic retried past), if it did. */
  storageError: () => StorageError | null
  /** The full id of a snapshot this repository handle stored, from restic's (short) summary id. */
  fullId(id: string): string
  /** Stops the bridge and releases the destination's connections. */
  close(): Promise<void>
}

/**
 * Opens the tenant's repository on `dest` behind a loopback bridge: restic sees only the
 * bridge URL and the repository password. A storage error that retrying cannot fix (or a full
 * disk) aborts restic at once; a destination that fails every request for GIVE_UP_MS does too.
 */
export async function openRepository(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  work: string,
  who: RunAs,
  signal: AbortSignal,
  opts: { create: boolean; clearLocks?: boolean },
): Promise<OpenRepo> {
  const entry = deps.drivers[dest.type]
  if (!entry) throw new StorageError('BadConfig', `Unknown destination type “${dest.type}”.`)
  const { db, config } = deps
  const { settings, secrets } = destinationValues(db, config.secretKey, tenant.id, dest, entry.settings)
  const raw = entry.open(settings, secrets, {
    tenantName: tenant.name,
    localRoot: localRootOf(deps.db, deps.config),
    guard: guardPolicy(deps.db),
  })
  const abort = new AbortController()
  signal.addEventListener('abort', () => abort.abort(signal.reason), { once: true })
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
  const bridge = await startBridge(driver)
  const close = async () => {
    await bridge.close()
    await raw.close?.().catch(() => {})
  }
  const repo = repositoryFor(deps.db, deps.config.secretKey, tenant.id, dest.id)
  const env: ResticEnv = {
    repository: bridge.url,
    password: repositoryPassword(deps.config.secretKey, repo),
    cacheDir: join(work, 'cache'),
    runAs: who,
    signal: abort.signal,
    timezone: tenant.timezone,
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
    if (!repo.initializedAt) markInitialized(deps.db, repo.id)
    // The previous attempt of this job was killed (its lease expired) and a tenant runs one job
    // at a time, so its locks are dead ones restic itself cannot prove stale.
    if (opts.clearLocks && exists) await runRestic(['unlock', '--remove-all'], env)
  } catch (err) {
    await close()
    throw fatal ?? err
  }
  const fullId = (id: string) => written.find((w) => w.startsWith(id)) ?? id
  return {
    env,
    bridge,
    driver,
    repositoryId: repo.id,
    storageError: () => fatal ?? last,
    fullId,
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
