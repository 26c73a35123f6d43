import { Hono } from 'hono'
import { Readable } from 'node:stream'
import { posix } from 'node:path'
import { getDestination, listDestinations } from '../../db/destinations.ts'
import { findRepository } from '../../db/repositories.ts'
import { getPolicy } from '../../db/policies.ts'
import type { Destination } from '../../db/schema.ts'
import { latestComplete } from '../../db/snapshots.ts'
import { catalogSnapshots, listSnapshots, type Snapshot } from '../../engine/restic/snapshots.ts'
import {
  DownloadLimitError,
  downloadHeaders,
  downloadTarget,
  openDownload,
} from '../../engine/restic/download.ts'
import { plainReason } from '../../engine/restic/failure.ts'
import { ConflictError, InputError, NotFoundError } from '../../errors.ts'
import { ApiError, toApiError, unreadable } from './errors.ts'
import { type ApiCtx, type ApiEnv, auditApi, optionalId, requireBackupToken } from './context.ts'

/** Listing and downloading snapshots: backup data, so the backup token is required too. */
export const snapshotRoutes = new Hono<ApiEnv>()

snapshotRoutes.use('*', async (c, next) => {
  await requireBackupToken(c)
  await next()
})

function engineDeps(c: ApiCtx) {
  const { db, config, drivers } = c.get('deps')
  return { db, config, drivers }
}

async function withRepo(c: ApiCtx, dests: Destination[]) {
  const { db } = c.get('deps')
  const kept = []
  for (const d of dests)
    if ((await findRepository(db, c.get('tenant').id, d.id))?.initializedAt) kept.push(d)
  return kept
}

/** `?policy=` narrows to that policy's snapshots. */
async function policyFilter(c: ApiCtx) {
  const id = optionalId(c, 'policy')
  if (id === undefined) return { policy: undefined, keep: () => true }
  const policy = await getPolicy(c.get('deps').db, c.get('tenant').id, id)
  return { policy, keep: (s: Snapshot) => s.policyId === policy.id }
}

function snapshotJson(s: Snapshot) {
  return {
    id: s.id,
    shortId: s.shortId,
    time: s.time,
    paths: s.paths,
    policyId: s.policyId,
    kind: s.kind,
    complete: s.complete,
  }
}

snapshotRoutes.get('/', async (c) => {
  const { db } = c.get('deps')
  const tenant = c.get('tenant')
  const destId = optionalId(c, 'destination')
  const { policy, keep } = await policyFilter(c)
  let dests =
    destId !== undefined
      ? [await getDestination(db, tenant.id, destId)]
      : await listDestinations(db, tenant.id)
  if (policy) dests = dests.filter((d) => policy.destinations.some((p) => p.id === d.id))
  const destinations = await Promise.all(
    dests.map(async (d) => {
      const base = { id: d.id, name: d.name, type: d.type }
      try {
        return {
          ...base,
          snapshots: (await catalogSnapshots(engineDeps(c), tenant, d))
            .filter(keep)
            .map(snapshotJson),
        }
      } catch (err) {
        return { ...base, snapshots: [], error: `Could not list snapshots: ${plainReason(err)}` }
      }
    }),
  )
  return c.json({ destinations })
})

/** The destination to download from: the one asked for, or the only one holding backups. */
async function downloadDestination(c: ApiCtx): Promise<Destination> {
  const { db } = c.get('deps')
  const tenant = c.get('tenant')
  const id = optionalId(c, 'destination')
  if (id !== undefined) return getDestination(db, tenant.id, id)
  const dests = await withRepo(c, await listDestinations(db, tenant.id))
  if (dests.length === 1) return dests[0]!
  if (!dests.length) throw new ApiError(404, 'not_found', 'There is no backup yet: run one first.')
  throw new ApiError(
    422,
    'invalid',
    'You have backups on several destinations: add ?destination=<id> (ids: GET /api/v1/snapshots).',
    {
      destination: 'Choose a destination.',
    },
  )
}

/** `path` as an absolute, normal path: relative paths are taken from the home folder; default `/` (everything). */
function requestedPath(c: ApiCtx): string {
  const raw = c.req.query('path') ?? ''
  if (raw === '' || raw === '/') return '/'
  const path = raw.startsWith('/') ? raw : posix.join(c.get('tenant').homeDir, raw)
  const bad =
    /[\0\n\r]/.test(raw) ||
    raw.split('/').includes('..') ||
    posix.normalize(path).replace(/\/+$/, '') !== path.replace(/\/+$/, '')
  if (bad)
    throw new ApiError(422, 'invalid', 'Give “path” without “..”, “.” or doubled slashes.', {
      path: 'Not a plain path.',
    })
  return path.replace(/\/+$/, '')
}

function requestedId(c: ApiCtx): string {
  const id = c.req.param('id') ?? ''
  if (id !== 'latest' && !/^[0-9a-f]{8,64}$/.test(id)) {
    throw new ApiError(422, 'invalid', 'Give a snapshot id (8 to 64 hex characters) or “latest”.', {
      id: 'Not a snapshot id.',
    })
  }
  return id
}

/**
 * The snapshot `id` (a prefix of at least 8 hex digits) or `latest`: the newest complete policy
 * snapshot (never a safety snapshot, never one with a failed dump), of `?policy=` if given.
 */
async function findSnapshot(c: ApiCtx, dest: Destination, id: string): Promise<Snapshot> {
  const { policy, keep } = await policyFilter(c)
  const read = async (fresh: boolean) => {
    try {
      const all = fresh
        ? await listSnapshots(engineDeps(c), c.get('tenant'), dest)
        : await catalogSnapshots(engineDeps(c), c.get('tenant'), dest)
      return all.filter(keep)
    } catch (err) {
      throw unreadable(err)
    }
  }
  const snapshots = await read(false)
  if (id === 'latest') {
    const latest = latestComplete(snapshots, { policyId: policy?.id })
    if (!latest) {
      const none = `There is no backup on “${dest.name}” yet.`
      const partial = `There is no complete backup on “${dest.name}” yet: give a snapshot id to download another.`
      throw new ApiError(404, 'not_found', snapshots.length ? partial : none)
    }
    return latest
  }
  const prefixed = (list: Snapshot[]) => list.filter((s) => s.id.startsWith(id))
  let matches = prefixed(snapshots)
  // A snapshot made since the catalog was last synced (by stock restic, say).
  if (!matches.length) matches = prefixed(await read(true))
  if (matches.length > 1) {
    throw new ApiError(
      422,
      'invalid',
      `“${id}” matches ${matches.length} snapshots: give more of its id.`,
      { id: 'Ambiguous snapshot id.' },
    )
  }
  const found = matches[0]
  if (!found) throw new ApiError(404, 'not_found', 'That snapshot does not exist or is not yours.')
  return found
}

/** Engine errors before any byte was sent, as the API says them. */
function downloadError(err: unknown): ApiError {
  if (err instanceof DownloadLimitError) return new ApiError(429, 'limit_reached', err.message)
  if (
    err instanceof ApiError ||
    err instanceof NotFoundError ||
    err instanceof InputError ||
    err instanceof ConflictError
  )
    return toApiError(err)
  return unreadable(err)
}

/**
 * Streams a snapshot (default: all of it) or one path of it, like the Restore page: a file as
 * itself (its own name and type), a folder or everything as a .tar. The path is checked against
 * the snapshot's file index first (404 when it lacks it); at most DOWNLOADS_PER_TENANT run at
 * once (429). The response starts only once restic produced its first bytes, so a failure to
 * open the repository is still a JSON error; a failure later cuts the stream (curl fails).
 */
snapshotRoutes.get('/:id/download', async (c) => {
  // Made now: the server aborts it when the client leaves only if it exists by then.
  const signal = c.req.raw.signal
  const tenant = c.get('tenant')
  const id = requestedId(c)
  const path = requestedPath(c)
  const dest = await downloadDestination(c)
  const snapshot = await findSnapshot(c, dest, id)
  let download
  try {
    const target = await downloadTarget(engineDeps(c), tenant, dest, snapshot, path)
    download = await openDownload(engineDeps(c), tenant, dest, snapshot, target, signal)
  } catch (err) {
    throw downloadError(err)
  }
  try {
    await auditApi(c, 'snapshot.download', snapshot.shortId, { destination: dest.name, path })
  } catch (err) {
    download.body.destroy()
    throw err
  }
  return c.body(Readable.toWeb(download.body) as ReadableStream, 200, {
    ...downloadHeaders(download),
    'X-Snapshot-Id': snapshot.id,
  })
})
