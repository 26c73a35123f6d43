import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { posix } from 'node:path'
import { stamp } from '../../zoned.ts'
import type { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import contentDisposition from 'content-disposition'
import mime from 'mime-types'
import type { Db } from '../../db/client.ts'
import {
  releaseDownloadSlot,
  renewDownloadSlot,
  takeDownloadSlot,
} from '../../db/download-slots.ts'
import type { Destination, Tenant, TenantDatabase } from '../../db/schema.ts'
import { dumpKey, dumpPathIn, getCatalogSnapshot, nodeAt } from '../../db/snapshots.ts'
import { ConflictError, LimitError, NotFoundError } from '../../errors.ts'
import type { EngineDeps } from '../deps.ts'
import { byPattern } from './download-by-pattern.ts'
import { cancellable, handOut, type Producer } from './download-stream.ts'
import { checkSnapshotId, ensureIndex, withRepository, type Snapshot } from './snapshots.ts'

export { DOWNLOADS_PER_TENANT } from '../../db/download-slots.ts'

/** The tenant already runs DOWNLOADS_PER_TENANT downloads (HTTP 429). */
export class DownloadLimitError extends LimitError {
  constructor() {
    super('A download is already running: wait for it to finish, then try again.')
  }
}

/** The releases of the slots this process holds now. */
const held = new Set<() => Promise<void>>()

/** How often a streaming download renews its slot: well within DOWNLOAD_LEASE_MS. */
const RENEW_MS = 20_000
/** This process, as the holder of the slots it takes (`host:pid:random`). */
const HOLDER = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`

/**
 * Takes one of the tenant's download slots in the database, shared by every web node
 * (DownloadLimitError when none is free), and renews it until released. The returned release
 * may be called any number of times.
 */
async function takeSlot(db: Db, tenantId: number): Promise<() => void> {
  const id = await takeDownloadSlot(db, tenantId, HOLDER)
  if (id === null) throw new DownloadLimitError()
  const fail = (what: string) => (err: unknown) =>
    console.error(`[download] ${what} download slot ${id}: ${(err as Error).message}`)
  const renew = setInterval(() => {
    renewDownloadSlot(db, tenantId, id)
      .then((kept) => {
        if (!kept) console.error(`[download] download slot ${id} expired before it was renewed`)
      })
      .catch(fail('could not renew'))
  }, RENEW_MS)
  renew.unref()
  let released: Promise<void> | undefined
  const release = () => {
    clearInterval(renew)
    held.delete(release)
    // Should this fail, the lease frees the slot within DOWNLOAD_LEASE_MS.
    released ??= releaseDownloadSlot(db, tenantId, id).catch(fail('could not release'))
    return released
  }
  held.add(release)
  return () => void release()
}

/**
 * Gives back every download slot this process holds, for a web node shutting down: the
 * tenant's next download on another node need not wait for the leases to run out.
 */
export async function releaseHeldSlots(): Promise<void> {
  await Promise.all([...held].map((release) => release()))
}

/** What `path` of a snapshot is, from its file index. */
export type DownloadTarget = { path: string; type: 'file' | 'dir' }

/** A download under way: its bytes and what the response says about them. */
export type Download = { body: Readable; name: string; type: string }

/**
 * Checks `path` against the snapshot's file index (built on first use) before anything is
 * dumped: NotFoundError when the snapshot does not hold it, ConflictError for a link or a
 * special file (restic dumps only files and folders). `/` is the whole snapshot.
 */
export async function downloadTarget(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snap: Snapshot,
  path: string,
): Promise<DownloadTarget> {
  if (path === '/') return { path, type: 'dir' }
  await ensureIndex(deps, tenant, dest, snap)
  const node = await nodeAt(deps.db, snap.rowId, path)
  if (!node) throw new NotFoundError(`“${path}” in snapshot ${snap.shortId}`)
  if (node.type !== 'file' && node.type !== 'dir') {
    throw new ConflictError(
      `“${node.name}” is a ${node.type === 'symlink' ? 'link' : 'special file'}: download the folder that holds it.`,
    )
  }
  return { path, type: node.type }
}

/**
 * Starts downloading a checked target: a file as itself (its own name and type), a folder or
 * the whole snapshot as a .tar. Resolves once the first bytes came, so a failure to start is
 * still an error the caller can answer with; a later failure cuts the stream. Destroying the
 * body or aborting `signal` stops restic (SIGINT, so it removes its lock). Takes one of the
 * tenant's download slots until the download is over, however it ends (DownloadLimitError
 * when none is free).
 */
export async function openDownload(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snap: Snapshot,
  target: DownloadTarget,
  signal?: AbortSignal,
): Promise<Download> {
  checkSnapshotId(snap.id)
  const file = target.type === 'file'
  const name = file ? posix.basename(target.path) : tarName(tenant, snap, target.path)
  const type = file ? mime.lookup(name) || 'application/octet-stream' : 'application/x-tar'
  // restic's JSON shows each byte of a name that is not UTF-8 as U+FFFD: `restic dump` cannot
  // be given such a path, a restore by pattern can.
  const produce = target.path.includes('\uFFFD')
    ? byPattern(deps, tenant, dest, snap.id, target)
    : dumped(deps, tenant, dest, [
        'dump',
        ...(file ? [] : ['--archive', 'tar']),
        snap.id,
        target.path,
      ])
  const body = await handOut(produce, { signal, release: await takeSlot(deps.db, tenant.id) })
  return { body, name, type }
}

/**
 * Starts downloading the dump of `database` a snapshot holds, gzipped, as
 * `<name>-<YYYY-MM-DD-HHMM>.sql.gz` (the snapshot's time in the tenant's time zone).
 * NotFoundError unless the snapshot holds a good dump of it. Like openDownload otherwise.
 */
export async function openDatabaseDownload(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snap: Snapshot,
  database: Pick<TenantDatabase, 'engine' | 'name'>,
  signal?: AbortSignal,
): Promise<Download> {
  checkSnapshotId(snap.id)
  const missing = new NotFoundError(`A dump of “${database.name}” in snapshot ${snap.shortId}`)
  // The index also teaches an old snapshot without `db:` tags which dumps it holds.
  await ensureIndex(deps, tenant, dest, snap)
  if (
    !(await getCatalogSnapshot(deps.db, tenant.id, dest.id, snap.id)).databases.includes(
      dumpKey(database),
    )
  )
    throw missing
  const at = await dumpPathIn(deps.db, snap, database)
  if (!at) throw missing
  const body = await handOut(dumped(deps, tenant, dest, ['dump', snap.id, at]), {
    signal,
    release: await takeSlot(deps.db, tenant.id),
    transform: createGzip(),
  })
  return {
    body,
    name: `${database.name}-${stamp(snap.time, tenant.timezone)}.sql.gz`,
    type: 'application/gzip',
  }
}

/** Response headers for a download: its type, its own file name (RFC 6266/5987), no caching. */
export function downloadHeaders(d: Pick<Download, 'name' | 'type'>): Record<string, string> {
  return {
    'Content-Type': d.type,
    'Content-Disposition': attachment(d.name),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  }
}

/** `attachment; filename="…"` with an ASCII fallback, plus `filename*` for any other name. */
export function attachment(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]/g, '_')
  return contentDisposition(name, { fallback })
}

function tarName(tenant: Tenant, snap: Snapshot, path: string): string {
  const what = path === '/' ? 'all' : posix.basename(path)
  return `${tenant.name}-${stamp(snap.time, tenant.timezone).slice(0, 10)}-${snap.shortId}-${what}.tar`
}

/**
 * Streams `path` of a snapshot as a tar archive (restic dump --archive tar) into `sink`, with no
 * slot and no index check; resolves when restic is done. Routes use openDownload.
 */
export async function streamTar(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snapshot: string,
  path: string,
  sink: (tar: Readable) => void,
  signal = new AbortController().signal,
): Promise<void> {
  checkSnapshotId(snapshot)
  await dumped(deps, tenant, dest, ['dump', '--archive', 'tar', snapshot, path])(sink, signal)
}

/** `restic <args>` on the tenant's repository, its stdout being the download. */
function dumped(deps: EngineDeps, tenant: Tenant, dest: Destination, args: string[]): Producer {
  return (sink, signal) =>
    withRepository(deps, tenant, dest, (repo) => cancellable(repo, args, sink), signal)
}
