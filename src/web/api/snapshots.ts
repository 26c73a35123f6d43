import { Hono } from 'hono'
import { Readable } from 'node:stream'
import { posix } from 'node:path'
import { getDestination, listDestinations } from '../../db/destinations.ts'
import { findRepository } from '../../db/repositories.ts'
import { getPolicy } from '../../db/policies.ts'
import type { Destination } from '../../db/schema.ts'
import { listDir, listSnapshots, openTar, type Snapshot } from '../../engine/snapshots.ts'
import { plainReason } from '../../engine/failure.ts'
import { ApiError, unreadable } from './errors.ts'
import { type ApiCtx, type ApiEnv, auditApi, optionalId, requireBackupToken } from './context.ts'

/** Listing and downloading snapshots: backup data, so the backup token is required too. */
export const snapshotRoutes = new Hono<ApiEnv>()

snapshotRoutes.use('*', async (c, next) => {
  requireBackupToken(c)
  await next()
})

function engineDeps(c: ApiCtx) {
  const { db, config, drivers } = c.get('deps')
  return { db, config, drivers }
}

function withRepo(c: ApiCtx, dests: Destination[]) {
  const { db } = c.get('deps')
  return dests.filter((d) => findRepository(db, c.get('tenant').id, d.id)?.initializedAt)
}

/** `?policy=` narrows to that policy's snapshots (restic tag `policy:<id>`). */
function policyFilter(c: ApiCtx) {
  const id = optionalId(c, 'policy')
  if (id === undefined) return { policy: undefined, keep: () => true }
  const policy = getPolicy(c.get('deps').db, c.get('tenant').id, id)
  return { policy, keep: (s: Snapshot) => s.tags.includes(`policy:${policy.id}`) }
}

function snapshotJson(s: Snapshot) {
  const tag = s.tags.find((t) => t.startsWith('policy:'))
  return {
    id: s.id,
    shortId: s.shortId,
    time: s.time,
    paths: s.paths,
    policyId: tag ? Number(tag.slice(7)) : null,
  }
}

snapshotRoutes.get('/', async (c) => {
  const { db } = c.get('deps')
  const tenant = c.get('tenant')
  const destId = optionalId(c, 'destination')
  const { policy, keep } = policyFilter(c)
  let dests =
    destId !== undefined ? [getDestination(db, tenant.id, destId)] : listDestinations(db, tenant.id)
  if (policy) dests = dests.filter((d) => policy.destinations.some((p) => p.id === d.id))
  const destinations = await Promise.all(
    dests.map(async (d) => {
      const base = { id: d.id, name: d.name, type: d.type }
      try {
        return {
          ...base,
          snapshots: (await listSnapshots(engineDeps(c), tenant, d)).filter(keep).map(snapshotJson),
        }
      } catch (err) {
        return { ...base, snapshots: [], error: `Could not list snapshots: ${plainReason(err)}` }
      }
    }),
  )
  return c.json({ destinations })
})

/** The destination to download from: the one asked for, or the only one holding backups. */
function downloadDestination(c: ApiCtx): Destination {
  const { db } = c.get('deps')
  const tenant = c.get('tenant')
  const id = optionalId(c, 'destination')
  if (id !== undefined) return getDestination(db, tenant.id, id)
  const dests = withRepo(c, listDestinations(db, tenant.id))
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

async function findSnapshot(c: ApiCtx, dest: Destination, id: string): Promise<Snapshot> {
  const { keep } = policyFilter(c)
  let snapshots: Snapshot[]
  try {
    snapshots = (await listSnapshots(engineDeps(c), c.get('tenant'), dest)).filter(keep)
  } catch (err) {
    throw unreadable(err)
  }
  const matches = id === 'latest' ? snapshots.slice(0, 1) : snapshots.filter((s) => s.id.startsWith(id))
  if (matches.length > 1) {
    throw new ApiError(422, 'invalid', `“${id}” matches ${matches.length} snapshots: give more of its id.`, {
      id: 'Ambiguous snapshot id.',
    })
  }
  const found = matches[0]
  if (!found)
    throw new ApiError(
      404,
      'not_found',
      id === 'latest'
        ? `There is no backup on “${dest.name}” yet.`
        : 'That snapshot does not exist or is not yours.',
    )
  return found
}

/** A path below a snapshot's root must exist, else restic would fail after the headers went out. */
async function checkPath(c: ApiCtx, dest: Destination, snapshot: Snapshot, path: string) {
  if (path === '/' || snapshot.paths.includes(path)) return
  const missing = new ApiError(
    404,
    'not_found',
    `“${path}” is not in snapshot ${snapshot.shortId}.`,
  )
  if (!snapshot.paths.some((root) => path.startsWith(root + '/'))) throw missing
  let nodes
  try {
    nodes = await listDir(engineDeps(c), c.get('tenant'), dest, snapshot.id, posix.dirname(path))
  } catch (err) {
    throw unreadable(err)
  }
  if (!nodes.some((n) => n.path === path)) throw missing
}

/**
 * Streams a snapshot (default: all of it) or one path of it as a tar archive, like the Restore
 * page's download. The response starts only once restic produced its first bytes, so a failure
 * to open the repository is still a JSON error; a failure later cuts the stream (curl fails).
 */
snapshotRoutes.get('/:id/download', async (c) => {
  const tenant = c.get('tenant')
  const id = requestedId(c)
  const path = requestedPath(c)
  const dest = downloadDestination(c)
  const snapshot = await findSnapshot(c, dest, id)
  await checkPath(c, dest, snapshot, path)
  let out: Readable
  try {
    out = await openTar(engineDeps(c), tenant, dest, snapshot.id, path)
  } catch (err) {
    throw unreadable(err)
  }
  auditApi(c, 'snapshot.download', snapshot.shortId, { destination: dest.name, path })
  const name =
    `${tenant.name}-${snapshot.time.slice(0, 10)}-${snapshot.shortId}-${path === '/' ? 'all' : posix.basename(path)}.tar`.replace(
      /[^\w.-]/g,
      '_',
    )
  c.header('Content-Type', 'application/x-tar')
  c.header('Content-Disposition', `attachment; filename="${name}"`)
  c.header('X-Snapshot-Id', snapshot.id)
  return c.body(Readable.toWeb(out) as ReadableStream)
})
