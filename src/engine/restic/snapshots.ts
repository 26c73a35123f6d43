import type { Destination, Tenant } from '../../db/schema.ts'
import { findRepository } from '../../db/repositories.ts'
import { StorageError } from '../../drivers/types.ts'
import { runAsFor, tenantWorkDir } from '../host/isolation.ts'
import { openRepository, type OpenRepo } from './repository.ts'
import type { EngineDeps } from '../deps.ts'
import { resticJson, runRestic } from './restic.ts'
import type { SnapshotRow } from '../../db/schema.ts'
import { NotFoundError } from '../../errors.ts'
import { saveIndexInSteps } from '../../db/snapshot-index.ts'
import {
  catalogOf,
  catalogSyncedAt,
  childrenOf,
  dropOldIndexes,
  dumpKey,
  dumpOf,
  parentOf,
  getCatalogSnapshot,
  setDatabases,
  syncCatalog,
  touchIndex,
  type IndexedNode,
} from '../../db/snapshots.ts'

/** A snapshot in the panel's catalog, as pages, the API and the CLI show it. */
export type Snapshot = {
  id: string
  shortId: string
  time: string
  paths: string[]
  tags: string[]
  kind: SnapshotRow['kind']
  policyId: number | null
  /** Every stage that fed it succeeded: only these can be `latest`. */
  complete: boolean
  /** `<engine>-<name>` of each database whose good dump it holds. */
  databases: string[]
  bytes: number | null
  files: number | null
  /** The catalog row (for the file index). */
  rowId: number
}
export type TreeNode = {
  name: string
  path: string
  type: 'dir' | 'file' | 'symlink' | 'other'
  size: number
  mtime: string
  /** The name is not valid UTF-8 (shown with U+FFFD); restored by pattern. */
  lossy?: boolean
}

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/

/** How old a catalog may be before a page syncs it with restic again. */
export const CATALOG_MAX_AGE_MS = 3600_000

export function checkSnapshotId(id: string): string {
  if (!SNAPSHOT_ID.test(id)) throw new StorageError('NotFound', 'No such snapshot.')
  return id
}

export function toSnapshot(r: SnapshotRow): Snapshot {
  return {
    id: r.snapshotId,
    shortId: r.snapshotId.slice(0, 8),
    time: r.time.toISOString(),
    paths: r.paths,
    tags: r.tags,
    kind: r.kind,
    policyId: r.policyId,
    complete: r.complete,
    databases: r.databases,
    bytes: r.bytes,
    files: r.files,
    rowId: r.id,
  }
}

/** Runs `fn` with the tenant's repository on `dest` open behind a bridge, as the tenant. */
export async function withRepository<T>(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  fn: (repo: OpenRepo) => Promise<T>,
  signal = new AbortController().signal,
  opts: { create?: boolean } = {},
): Promise<T> {
  const who = runAsFor(tenant)
  const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
  const repo = await openRepository(deps, tenant, dest, work, who, signal, {
    create: opts.create ?? false,
  })
  try {
    return await fn(repo)
  } finally {
    await repo.close()
  }
}

/** Lists the repository with restic and brings the panel's catalog in line with it. */
export async function syncSnapshots(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  repo: OpenRepo,
): Promise<void> {
  const raw = await resticJson<any>(['snapshots'], repo.env)
  const listed = raw.map((s) => ({
    id: String(s.id),
    time: String(s.time),
    tags: s.tags ?? [],
    paths: s.paths ?? [],
  }))
  await syncCatalog(deps.db, tenant.id, dest.id, repo.repositoryId, listed)
}

/**
 * Snapshots on a destination, newest first, fresh from restic (the catalog is synced on the
 * way); [] when nothing was ever backed up there. Pages use `catalogSnapshots` instead.
 */
export async function listSnapshots(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
): Promise<Snapshot[]> {
  if (!(await findRepository(deps.db, tenant.id, dest.id))?.initializedAt) return []
  await withRepository(deps, tenant, dest, (repo) => syncSnapshots(deps, tenant, dest, repo))
  return (await catalogOf(deps.db, tenant.id, dest.id)).map(toSnapshot)
}

/**
 * Snapshots on a destination from the panel's catalog, newest first: restic is asked first
 * (inline) only when the catalog is stale (`catalogStale`). The runner records what it makes.
 * Pages use `catalogForPage` (domain/snapshot-jobs.ts), which never runs restic.
 */
export async function catalogSnapshots(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  maxAgeMs = CATALOG_MAX_AGE_MS,
): Promise<Snapshot[]> {
  const repo = await findRepository(deps.db, tenant.id, dest.id)
  if (!repo?.initializedAt) return []
  if (await catalogStale(deps, repo.id, maxAgeMs)) return listSnapshots(deps, tenant, dest)
  return (await catalogOf(deps.db, tenant.id, dest.id)).map(toSnapshot)
}

/** The catalog of a repository was never synced with restic, or longer ago than `maxAgeMs`. */
export async function catalogStale(
  deps: Pick<EngineDeps, 'db'>,
  repositoryId: number,
  maxAgeMs = CATALOG_MAX_AGE_MS,
): Promise<boolean> {
  const at = await catalogSyncedAt(deps.db, repositoryId)
  return !at || Date.now() - at.getTime() > maxAgeMs
}

/**
 * One snapshot by full id: from the catalog when it knows it (however old the catalog), else
 * restic is asked (the catalog synced on the way), for a snapshot made elsewhere; NotFound
 * when restic does not list it either. Pages use `snapshotForPage`, which never runs restic.
 */
export async function findSnapshot(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  id: string,
): Promise<Snapshot> {
  const known = (await catalogOf(deps.db, tenant.id, dest.id)).find((s) => s.snapshotId === id)
  if (known) return toSnapshot(known)
  const fresh = (await listSnapshots(deps, tenant, dest)).find((s) => s.id === id)
  if (!fresh) throw new NotFoundError('That snapshot')
  return fresh
}

/**
 * Builds the file index of a snapshot once (one `restic ls --json`), so browsing and search
 * never run restic again; touches it when it exists. Runs restic inline: pages queue an
 * `index-snapshot` job instead (domain/snapshot-jobs.ts).
 */
export async function ensureIndex(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snap: Snapshot,
): Promise<void> {
  const row = await getCatalogSnapshot(deps.db, tenant.id, dest.id, snap.id)
  if (row.indexedAt) {
    await touchIndexOf(deps, row)
    return
  }
  await buildIndex(deps, tenant, dest, snap)
}

/** Marks an index used (at most once a minute), so the newest-used ones are kept. */
export async function touchIndexOf(deps: EngineDeps, row: SnapshotRow): Promise<void> {
  if (!row.indexUsedAt || Date.now() - row.indexUsedAt.getTime() > 60_000)
    await touchIndex(deps.db, row.id)
}

/**
 * Reads a snapshot's file list with restic into its index (replacing any), in one transaction
 * at the end. Old snapshots without `db:` tags learn their dumps from it.
 */
export async function buildIndex(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snap: Snapshot,
  signal?: AbortSignal,
): Promise<void> {
  const row = await getCatalogSnapshot(deps.db, tenant.id, dest.id, snap.id)
  const nodes: IndexedNode[] = []
  let files = 0
  let bytes = 0
  const dumps: string[] = []
  await withRepository(
    deps,
    tenant,
    dest,
    (repo) =>
      runRestic(['ls', '--json', snap.id], repo.env, {
        onJson: (m) => {
          if (m?.struct_type !== 'node' || typeof m.path !== 'string') return
          const path = String(m.path)
          const parent = parentOf(path)
          const name = path.slice(parent === '/' ? 1 : parent.length + 1)
          const type = kind(m.type)
          if (type === 'file') {
            files++
            bytes += Number(m.size ?? 0)
            const dump = dumpOf(path, snap.paths)
            if (dump) dumps.push(dumpKey(dump))
          }
          nodes.push({
            parent,
            name,
            type,
            size: Number(m.size ?? 0),
            mtime: m.mtime ? new Date(m.mtime) : null,
            lossy: name.includes('\uFFFD'),
          })
        },
      }),
    signal,
  )
  await saveIndexInSteps(deps.db, row.id, nodes, { files, bytes })
  if (!row.databases.length && dumps.length && row.kind !== 'other')
    await setDatabases(deps.db, row.id, dumps)
  await dropOldIndexes(deps.db, tenant.id)
}

/** The direct children of `dir` in a snapshot, from its file index (built on first use). */
export async function listDir(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snapshot: string | Snapshot,
  dir: string,
): Promise<TreeNode[]> {
  const snap =
    typeof snapshot === 'string'
      ? await findSnapshot(deps, tenant, dest, checkSnapshotId(snapshot))
      : snapshot
  if (!dir.startsWith('/')) throw new StorageError('NotFound', 'No such folder in the snapshot.')
  await ensureIndex(deps, tenant, dest, snap)
  const base = dir.replace(/\/+$/, '') || '/'
  return (await childrenOf(deps.db, snap.rowId, base)).map((n) => toNode(n))
}

export function toNode(n: {
  parent: string
  name: string
  type: TreeNode['type']
  size: number
  mtime: Date | null
  lossy: boolean
}): TreeNode {
  return {
    name: n.name,
    path: n.parent === '/' ? `/${n.name}` : `${n.parent}/${n.name}`,
    type: n.type,
    size: n.size,
    mtime: n.mtime ? n.mtime.toISOString() : '',
    lossy: n.lossy,
  }
}

function kind(t: string): TreeNode['type'] {
  return t === 'dir' || t === 'file' || t === 'symlink' ? t : 'other'
}
