import type { Destination, Tenant } from '../../db/schema.ts'
import type { EngineDeps } from '../deps.ts'
import { StorageError } from '../../drivers/types.ts'
import { destinationValues } from '../../db/destinations.ts'
import {
  markInitialized,
  markQuickKey,
  repositoryFor,
  repositoryPassword,
} from '../../db/repositories.ts'
import { quickenKey } from './quick-key.ts'
import { openBridged, type BridgedRepo } from './bridged.ts'
import type { RunAs } from '../host/isolation.ts'
import { join } from 'node:path'
import { guardPolicy, localRootOf } from '../../db/settings.ts'

export { GIVE_UP_MS } from './bridged.ts'

/** A tenant's restic repository opened through a fresh storage bridge for one job. */
export type OpenRepo = BridgedRepo & { repositoryId: number }

/**
 * Opens the tenant's repository on `dest` behind a loopback bridge: restic sees only the
 * bridge URL and the repository password. A storage error that retrying cannot fix (or a full
 * disk) aborts restic at once; a destination that fails every request for GIVE_UP_MS does too
 * (see `openBridged`, which does the work for any driver).
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
  const { settings, secrets } = await destinationValues(
    db,
    config.secretKey,
    tenant.id,
    dest,
    entry.settings,
  )
  const repo = await repositoryFor(db, config.secretKey, tenant.id, dest.id)
  const raw = entry.open(settings, secrets, {
    tenantName: tenant.name,
    localRoot: await localRootOf(db, config),
    guard: await guardPolicy(db),
  })
  const opened = await openBridged(raw, {
    password: repositoryPassword(config.secretKey, repo),
    cacheDir: join(work, 'cache'),
    runAs: who,
    signal,
    timezone: tenant.timezone,
    create: opts.create,
    // The previous attempt of this job was killed (its lease expired) and a tenant runs one job
    // at a time, so its locks are dead ones restic itself cannot prove stale.
    clearLocks: opts.clearLocks,
    afterInit: async () => {
      if (!repo.initializedAt) await markInitialized(db, repo.id)
    },
  })
  if (!repo.quickKeyAt) {
    // Once per repository; a failure (a destination hiccup) only means trying again next time.
    const done = await quickenKey(opened.driver, opened.env).then(
      () => true,
      () => false,
    )
    if (done) await markQuickKey(db, repo.id)
  }
  return { ...opened, repositoryId: repo.id }
}
