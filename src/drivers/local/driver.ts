import { constants, type Dirent } from 'node:fs'
import { lstat, mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { Readable, addAbortSignal } from 'node:stream'
import { TEMP, keySegments, prefixFolder } from '../keys.ts'
import { byteRange, counted } from '../streams.ts'
import { StorageError, type Driver, type ObjectInfo } from '../types.ts'
import { classify } from './errors.ts'

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants

/** Keys never name a temp file (`.<name>.tmp-<hex>`, see `put`). */
const segments = (key: string) => keySegments(key, { temp: true })

/**
 * Objects as files under `root`, one folder per `/` in the key (restic's own local layout when
 * the bridge stores a repository here). `root` and the folders below it are created 0700 on the
 * first put; `root` itself may be a symlink, anything below it never is followed.
 *
 * Puts are atomic: the bytes go to a temp file beside the target, are counted against `size`,
 * fsynced and renamed into place, then the folder is fsynced. Cancelling through `signal`
 * rejects with a `Transient` StorageError (a get's stream is destroyed with an AbortError).
 */
export function localDriver(root: string): Driver {
  /** The StorageError to reject with: "cancelled" when `signal` is why the call stopped. */
  const fail = (err: unknown, signal?: AbortSignal) =>
    signal?.aborted && !(err instanceof StorageError && err.code !== 'Transient')
      ? new StorageError('Transient', 'the operation was cancelled', { cause: err })
      : classify(err)

  const locate = async (parts: string[], create: boolean) =>
    join(await folder(root, parts.slice(0, -1), create), parts.at(-1)!)

  return {
    capabilities: { atomicPut: true, rangeGet: true, maxConnections: 8 },

    async put(key, openSource, { size, signal }) {
      let temp: string | undefined
      try {
        const parts = segments(key)
        signal?.throwIfAborted()
        const dir = await folder(root, parts.slice(0, -1), true)
        const name = parts.at(-1)!
        temp = join(dir, `.${name}.tmp-${randomBytes(6).toString('hex')}`)
        // O_EXCL|O_NOFOLLOW: a file or symlink planted at the temp name is never written through.
        const fh = await open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        try {
          await copy(openSource(), fh, size, signal)
          await fh.sync()
        } finally {
          await fh.close()
        }
        signal?.throwIfAborted()
        // rename replaces whatever sits at the key, a symlink included, without following it.
        await rename(temp, join(dir, name))
        temp = undefined
        await syncFolder(dir)
      } catch (err) {
        if (temp) await unlink(temp).catch(() => {})
        throw fail(err, signal)
      }
    },

    async get(key, { range, signal } = {}) {
      try {
        const parts = segments(key)
        const { start, end, empty } = byteRange(range)
        signal?.throwIfAborted()
        // O_NONBLOCK: a FIFO planted at the key must not hang the open.
        const fh = await open(await locate(parts, false), O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        const isFile = await fh.stat().then(
          (s) => s.isFile(),
          () => false,
        )
        if (!isFile || empty) await fh.close()
        if (!isFile) throw new StorageError('NotFound', 'the object does not exist')
        if (empty) return Readable.from([])
        // Our range is [start, end); Node's `end` is inclusive.
        const stream = fh.createReadStream({ start, end: end === undefined ? undefined : end - 1 })
        return signal ? addAbortSignal(signal, stream) : stream
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async *list(prefix, { signal } = {}) {
      let base: string
      let dir: string
      try {
        base = prefixFolder(prefix, { temp: true })
        signal?.throwIfAborted()
        dir = await folder(root, base ? base.slice(0, -1).split('/') : [], false)
      } catch (err) {
        const e = fail(err, signal)
        if (e.code === 'NotFound') return
        throw e
      }
      yield* walk(dir, base, prefix, (err) => fail(err, signal), signal)
    },

    async stat(key, { signal } = {}) {
      try {
        const parts = segments(key)
        signal?.throwIfAborted()
        const info = await lstat(await locate(parts, false))
        if (info.isSymbolicLink()) {
          throw new StorageError('BadConfig', `refusing to follow the symlink at ${key}`)
        }
        if (!info.isFile()) throw new StorageError('NotFound', 'the object does not exist')
        return { key, size: info.size }
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async remove(key, { signal } = {}) {
      try {
        const parts = segments(key)
        signal?.throwIfAborted()
        await unlink(await locate(parts, false))
      } catch (err) {
        const e = fail(err, signal)
        if (e.code !== 'NotFound') throw e
      }
    },
  }
}

/**
 * The folder `parts` under `root`, lstat-ing each component so a symlink below root is refused
 * (BadConfig) instead of followed; `create` makes missing ones (0700). Node has no openat(2), so
 * a folder swapped for a symlink between this check and the following open is not caught: root
 * is meant to be writable by the panel only.
 */
async function folder(root: string, parts: string[], create: boolean): Promise<string> {
  if (create) await mkdir(root, { recursive: true, mode: 0o700 })
  let dir = root
  for (const [i, part] of parts.entries()) {
    dir = join(dir, part)
    let info = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
      if (create && err.code === 'ENOENT') return undefined
      throw err
    })
    if (!info) {
      const made = await mkdir(dir, { mode: 0o700 }).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err
          return false
        },
      )
      // A new folder's own entry must be durable too, or a crash could lose the whole folder.
      if (made) await syncFolder(dirname(dir))
      info = await lstat(dir)
    }
    const at = parts.slice(0, i + 1).join('/')
    if (info.isSymbolicLink()) {
      throw new StorageError('BadConfig', `refusing to follow the symlink at ${at}`)
    }
    if (!info.isDirectory()) {
      // Reads of `a/b` under an object `a` simply find nothing; a put there cannot succeed.
      throw new StorageError(create ? 'BadConfig' : 'NotFound', `${at} is an object, not a folder`)
    }
  }
  return dir
}

/** Writes exactly `size` bytes of `source` at the start of `fh`; Transient on any other count. */
async function copy(source: Readable, fh: FileHandle, size: number, signal?: AbortSignal) {
  let written = 0
  for await (const buf of counted(source, size, signal)) {
    await writeAt(fh, buf, written)
    written += buf.length
  }
}

async function writeAt(fh: FileHandle, buf: Uint8Array, position: number) {
  try {
    for (let off = 0; off < buf.length;) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off)
      off += bytesWritten
    }
  } catch (err) {
    throw classify(err)
  }
}

/** Makes a rename durable: the new directory entry is only on disk once the folder is synced. */
async function syncFolder(dir: string) {
  const fh = await open(dir, O_RDONLY | O_DIRECTORY)
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Regular files under `dir` (keyed `rel` + name) that start with `prefix`; symlinks skipped. */
async function* walk(
  dir: string,
  rel: string,
  prefix: string,
  fail: (err: unknown) => StorageError,
  signal?: AbortSignal,
): AsyncGenerator<ObjectInfo> {
  let entries: Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return // removed while listing
    throw fail(err)
  }
  for (const entry of entries) {
    if (signal?.aborted) throw fail(signal.reason)
    const key = rel + entry.name
    // Dirent types come from lstat semantics, so a symlinked folder is neither of these.
    if (entry.isDirectory()) {
      const sub = key + '/'
      if (prefix.startsWith(sub) || sub.startsWith(prefix)) {
        yield* walk(join(dir, entry.name), sub, prefix, fail, signal)
      }
    } else if (entry.isFile() && !TEMP.test(entry.name) && key.startsWith(prefix)) {
      const info = await lstat(join(dir, entry.name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined
        throw fail(err)
      })
      if (info?.isFile()) yield { key, size: info.size }
    }
  }
}
