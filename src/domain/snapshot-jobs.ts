import { and, desc, eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import type { Destination, Tenant } from '../db/schema.ts'
import { jobs } from '../db/schema.ts'
import { enqueue } from '../db/jobs.ts'
import { findRepository } from '../db/repositories.ts'
import { catalogOf, getCatalogSnapshot } from '../db/snapshots.ts'
import { NotFoundError } from '../errors.ts'
import type { EngineDeps } from '../engine/deps.ts'
import {
  catalogStale,
  toSnapshot,
  touchIndexOf,
  type Snapshot,
} from '../engine/restic/snapshots.ts'

/**
 * Pages never run restic: what only restic can tell (snapshots made elsewhere, a snapshot's file
 * list) is asked of the runner as a job, deduplicated, and the page says it is being checked.
 */

/** After a failed look, pages show the failure for this long before asking again. */
export const RETRY_AFTER_MS = 5 * 60_000

/** A job a page is waiting for: `waiting` while it is queued or running, `failed` with why. */
export type Pending = { state: 'waiting'; queued: boolean } | { state: 'failed'; reason: string }

/** At most one look at a destination's snapshots is queued or running. */
export const syncJobKey = (destinationId: number) => `sync-snapshots:destination:${destinationId}`

/** At most one reading of a snapshot's file list is queued or running. */
export const indexJobKey = (destinationId: number, snapshotId: string) =>
  `index-snapshot:destination:${destinationId}:${snapshotId}`

/** The newest job of the tenant holding `key` (active or not), if any. */
async function newestJob(db: Db, tenantId: number, key: string) {
  return (
    await db
      .select({ status: jobs.status, lastError: jobs.lastError, updatedAt: jobs.updatedAt })
      .from(jobs)
      .where(and(eq(jobs.tenantId, tenantId), eq(jobs.dedupeKey, key)))
      .orderBy(desc(jobs.id))
      .limit(1)
  )[0]
}

/**
 * The job holding `key` if one is queued or running; else a recent failure of it (kept for
 * RETRY_AFTER_MS, so a broken destination is not asked on every page load); else `enqueue`
 * queues a new one. `created` says whether the runner should be woken.
 */
async function ask(
  db: Db,
  tenantId: number,
  key: string,
  queue: () => Promise<{ created: boolean; status: string }>,
): Promise<Pending & { created: boolean }> {
  const last = await newestJob(db, tenantId, key)
  if (last?.status === 'queued' || last?.status === 'running')
    return { state: 'waiting', queued: last.status === 'queued', created: false }
  if (last?.status === 'failed' && Date.now() - last.updatedAt.getTime() < RETRY_AFTER_MS)
    return { state: 'failed', reason: last.lastError ?? 'it failed.', created: false }
  const { created, status } = await queue()
  return { state: 'waiting', queued: status === 'queued', created }
}

/** The job holding `key` while it is queued or running (what polling pages wait for); else null. */
export async function waitingFor(db: Db, tenantId: number, key: string): Promise<Pending | null> {
  const last = await newestJob(db, tenantId, key)
  if (last?.status === 'queued' || last?.status === 'running')
    return { state: 'waiting', queued: last.status === 'queued' }
  return null
}

/** Queues a look at the destination's snapshots (deduplicated); see `ask`. */
export async function requestSnapshotSync(db: Db, tenantId: number, destinationId: number) {
  return await ask(db, tenantId, syncJobKey(destinationId), async () => {
    const { job, created } = await enqueue(db, {
      kind: 'sync-snapshots',
      tenantId,
      payload: { destinationId, trigger: 'manual' },
      dedupeKey: syncJobKey(destinationId),
      maxAttempts: 2,
    })
    return { created, status: job.status }
  })
}

/** Queues the reading of a snapshot's file list (deduplicated); see `ask`. */
export async function requestSnapshotIndex(
  db: Db,
  tenantId: number,
  destinationId: number,
  snapshotId: string,
) {
  return await ask(db, tenantId, indexJobKey(destinationId, snapshotId), async () => {
    const { job, created } = await enqueue(db, {
      kind: 'index-snapshot',
      tenantId,
      payload: { destinationId, snapshot: snapshotId, trigger: 'manual' },
      dedupeKey: indexJobKey(destinationId, snapshotId),
      maxAttempts: 2,
    })
    return { created, status: job.status }
  })
}

/** A destination's backups as a page shows them; `pending` while the runner looks for more. */
export type CatalogView = {
  snapshots: Snapshot[]
  pending: (Pending & { created: boolean }) | null
}

/**
 * The destination's snapshots from the catalog, newest first, never from restic. A catalog that
 * was never synced or is stale (CATALOG_MAX_AGE_MS) queues a `sync-snapshots` job.
 */
export async function catalogForPage(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
): Promise<CatalogView> {
  const repo = await findRepository(deps.db, tenant.id, dest.id)
  if (!repo?.initializedAt) return { snapshots: [], pending: null }
  const snapshots = (await catalogOf(deps.db, tenant.id, dest.id)).map(toSnapshot)
  if (!(await catalogStale(deps, repo.id))) return { snapshots, pending: null }
  return { snapshots, pending: await requestSnapshotSync(deps.db, tenant.id, dest.id) }
}

async function findCatalogSnapshot(db: Db, tenantId: number, destinationId: number, id: string) {
  try {
    return await getCatalogSnapshot(db, tenantId, destinationId, id)
  } catch (err) {
    if (err instanceof NotFoundError) return undefined
    throw err
  }
}

/** How recently the catalog must have been synced for an unknown id to be a plain 404. */
const JUST_SYNCED_MS = 60_000

/**
 * One snapshot for a page, from the catalog only. An id the catalog does not know may be a
 * backup made elsewhere: unless the catalog was synced within the last minute, a look is
 * queued and `pending` says so; otherwise `snapshot` is null (not found).
 */
export async function snapshotForPage(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  id: string,
): Promise<{ snapshot: Snapshot | null; pending: (Pending & { created: boolean }) | null }> {
  const row = await findCatalogSnapshot(deps.db, tenant.id, dest.id, id)
  if (row) return { snapshot: toSnapshot(row), pending: null }
  const repo = await findRepository(deps.db, tenant.id, dest.id)
  if (!repo?.initializedAt || !(await catalogStale(deps, repo.id, JUST_SYNCED_MS)))
    return { snapshot: null, pending: null }
  return { snapshot: null, pending: await requestSnapshotSync(deps.db, tenant.id, dest.id) }
}

/**
 * The snapshot, fresh from the catalog, once its file index exists (touched as used); else
 * an `index-snapshot` job is queued and `pending` says so.
 */
export async function indexForPage(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snapshotId: string,
): Promise<
  | { snapshot: Snapshot; pending: null }
  | { snapshot: null; pending: Pending & { created: boolean } }
> {
  const row = await getCatalogSnapshot(deps.db, tenant.id, dest.id, snapshotId)
  if (row.indexedAt) {
    await touchIndexOf(deps, row)
    return { snapshot: toSnapshot(row), pending: null }
  }
  return {
    snapshot: null,
    pending: await requestSnapshotIndex(deps.db, tenant.id, dest.id, snapshotId),
  }
}
