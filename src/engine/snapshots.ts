import { PassThrough, type Readable } from 'node:stream'
import type { Destination, Tenant } from '../db/schema.ts'
import { findRepository } from '../db/repositories.ts'
import { StorageError } from '../drivers/types.ts'
import { runAsFor, tenantWorkDir } from './isolation.ts'
import { openRepository, type EngineDeps, type OpenRepo } from './context.ts'
import { resticJson, runRestic } from './restic.ts'

export type Snapshot = {
  id: string
  shortId: string
  time: string
  paths: string[]
  tags: string[]
}
export type TreeNode = {
  name: string
  path: string
  type: 'dir' | 'file' | 'symlink' | 'other'
  size: number
  mtime: string
}

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/

export function checkSnapshotId(id: string): string {
  if (!SNAPSHOT_ID.test(id)) throw new StorageError('NotFound', 'No such snapshot.')
  return id
}

/** Runs `fn` with the tenant's repository on `dest` open behind a bridge, as the tenant. */
export async function withRepository<T>(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  fn: (repo: OpenRepo) => Promise<T>,
  signal = new AbortController().signal,
): Promise<T> {
  const who = runAsFor(tenant)
  const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
  const repo = await openRepository(deps, tenant, dest, work, who, signal, { create: false })
  try {
    return await fn(repo)
  } finally {
    await repo.close()
  }
}

/** Snapshots on a destination, newest first; [] when nothing was ever backed up there. */
export async function listSnapshots(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
): Promise<Snapshot[]> {
  if (!findRepository(deps.db, tenant.id, dest.id)?.initializedAt) return []
  const raw = await withRepository(deps, tenant, dest, (repo) =>
    resticJson<any>(['snapshots'], repo.env),
  )
  return raw
    .map((s) => ({
      id: s.id,
      shortId: s.short_id,
      time: s.time,
      paths: s.paths ?? [],
      tags: s.tags ?? [],
    }))
    .sort((a, b) => b.time.localeCompare(a.time))
}

/** The direct children of `dir` in a snapshot (lazy tree browsing). */
export async function listDir(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snapshot: string,
  dir: string,
): Promise<TreeNode[]> {
  checkSnapshotId(snapshot)
  // An absolute path cannot be taken for an option, and restic ls reads `--` as a filter.
  if (!dir.startsWith('/')) throw new StorageError('NotFound', 'No such folder in the snapshot.')
  const nodes = await withRepository(deps, tenant, dest, (repo) =>
    resticJson<any>(['ls', snapshot, dir], repo.env),
  )
  const base = dir.replace(/\/+$/, '') || '/'
  return nodes
    .filter((n) => n.struct_type === 'node' && n.path !== base && parentOf(n.path) === base)
    .map((n) => ({
      name: n.name,
      path: n.path,
      type: kind(n.type),
      size: n.size ?? 0,
      mtime: n.mtime,
    }))
    .sort(
      (a, b) =>
        (a.type === 'dir' ? 0 : 1) - (b.type === 'dir' ? 0 : 1) || a.name.localeCompare(b.name),
    )
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

function kind(t: string): TreeNode['type'] {
  return t === 'dir' || t === 'file' || t === 'symlink' ? t : 'other'
}

/**
 * Streams `path` of a snapshot as a tar archive (restic dump --archive tar) into `sink`.
 * Resolves when restic is done.
 */
export async function streamTar(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snapshot: string,
  path: string,
  sink: (tar: Readable) => void,
  signal?: AbortSignal,
): Promise<void> {
  checkSnapshotId(snapshot)
  await withRepository(
    deps,
    tenant,
    dest,
    (repo) => runRestic(['dump', '--archive', 'tar', snapshot, path], repo.env, { stdout: sink }),
    signal,
  )
}

/**
 * `path` of a snapshot as a tar stream, handed out only once restic has produced its first
 * bytes: a repository that cannot be opened is still an error the caller can answer with, and a
 * failure later cuts the stream. Closing the stream stops restic.
 */
export function openTar(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snapshot: string,
  path: string,
): Promise<Readable> {
  const out = new PassThrough()
  const abort = new AbortController()
  out.on('close', () => abort.abort())
  return new Promise((resolve, reject) => {
    const sink = (tar: Readable) => {
      tar.once('data', () => resolve(out))
      tar.pipe(out)
    }
    streamTar(deps, tenant, dest, snapshot, path, sink, abort.signal).then(
      () => resolve(out),
      (err) => {
        reject(err)
        out.destroy(err)
      },
    )
  })
}
