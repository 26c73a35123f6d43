import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import { PassThrough, Readable, addAbortSignal } from 'node:stream'
import type { FileEntryWithStats } from 'ssh2'
import { TEMP, keySegments, prefixFolder } from '../keys.ts'
import { byteRange } from '../streams.ts'
import { StorageError, type Driver, type ObjectInfo } from '../types.ts'
import { classify } from './errors.ts'
import { serverName, type Session, type Target } from './connect.ts'
import { connectionPool } from './pool.ts'
import * as op from './ops.ts'
import { upload } from './upload.ts'
import { capabilities } from './settings.ts'

/** Keys never name a temp file (`.<name>.tmp-<hex>`, see `put`). */
const segments = (key: string) => keySegments(key, { temp: true })

export type SftpOptions = Target & {
  /** The folder objects live under (absolute, or relative to the login folder). */
  root: string
  /** The pinned host key; empty refuses every call (pin it with Test connection first). */
  hostKey: string
}

/**
 * Objects as files under `root` on an SFTP server, one folder per `/` in the key (restic's
 * sftp/local layout). One SSH connection per driver, opened at the first call, shared by
 * concurrent calls, reopened when it drops, closed when idle or by `close()`.
 *
 * Puts stream into a temp file beside the target (with backpressure), count the bytes against
 * `size`, fsync when the server can, then rename into place: with `posix-rename@openssh.com`
 * atomically, otherwise remove-then-rename (a reader may briefly see no object, never a
 * partial one). Missing folders are created.
 */
export function sftpDriver(o: SftpOptions): Driver {
  const server = serverName(o)

  const fail = (err: unknown, signal?: AbortSignal, path?: string) =>
    signal?.aborted && !(err instanceof StorageError && err.code !== 'Transient')
      ? new StorageError('Transient', 'the operation was cancelled', { cause: err })
      : classify(err, { server, path: path ?? o.root })

  const { session, hold, close } = connectionPool(o)

  async function run<T>(
    signal: AbortSignal | undefined,
    path: string | undefined,
    body: (s: Session) => Promise<T>,
  ): Promise<T> {
    const release = hold()
    try {
      signal?.throwIfAborted()
      return await body(await session())
    } catch (err) {
      throw fail(err, signal, path)
    } finally {
      release()
    }
  }

  const full = (parts: string[]) => posix.join(o.root, ...parts)

  return {
    capabilities,

    async put(key, openSource, { size, signal }) {
      const parts = segments(key)
      const dir = full(parts.slice(0, -1))
      const target = full(parts)
      const temp = posix.join(dir, `.${parts.at(-1)}.tmp-${randomBytes(6).toString('hex')}`)
      let session: Session | undefined
      let written = false
      try {
        await run(signal, dir, async (s) => {
          session = s
          const handle = await op.openForWrite(s.sftp, temp, dir)
          written = true
          await upload(s, handle, openSource, size, signal)
          signal?.throwIfAborted()
          if (s.posixRename) await op.posixRename(s.sftp, temp, target)
          else {
            await op
              .unlink(s.sftp, target)
              .catch((err) => (op.isMissing(err) ? undefined : Promise.reject(err)))
            await op.rename(s.sftp, temp, target)
          }
          written = false
        })
      } catch (err) {
        // Best effort: on a dropped connection the temp file stays, hidden from list and keys.
        if (written && session) await op.unlink(session.sftp, temp).catch(() => {})
        throw err
      }
    },

    async get(key, { range, signal } = {}) {
      const parts = segments(key)
      const { start, end, empty } = byteRange(range)
      const release = hold()
      try {
        signal?.throwIfAborted()
        const s = await session()
        const handle = await op.open(s.sftp, full(parts), 'r')
        const stats = await op.fstat(s.sftp, handle).catch(async (err) => {
          await op.close(s.sftp, handle).catch(() => {})
          throw err
        })
        if (!stats.isFile() || empty) {
          await op.close(s.sftp, handle).catch(() => {})
          if (!stats.isFile()) throw new StorageError('NotFound', 'the object does not exist')
          release()
          return Readable.from([])
        }
        // Our range is [start, end); ssh2's `end` is inclusive.
        // ssh2 keeps one READ in flight; asking for 1 MiB at a time (split into the server's
        // largest READs) needs far fewer round trips than the default 64 KiB.
        const source = s.sftp.createReadStream('', {
          handle,
          start,
          end: end === undefined ? undefined : end - 1,
          highWaterMark: 1 << 20,
        })
        const out = new PassThrough()
        const gone = () => out.destroy(fail(new Error('No response from server'), signal))
        s.sftp.once('close', gone)
        source.on('error', (err: Error) => out.destroy(fail(err, signal)))
        source.pipe(out)
        out.once('close', () => {
          s.sftp.off('close', gone)
          if (!source.destroyed && op.isOpen(s.sftp)) source.destroy()
          release()
        })
        return signal ? addAbortSignal(signal, out) : out
      } catch (err) {
        release()
        throw fail(err, signal)
      }
    },

    async *list(prefix, { signal } = {}) {
      const base = prefixFolder(prefix, { temp: true })
      const release = hold()
      try {
        if (signal?.aborted) throw fail(signal.reason, signal)
        const s = await session().catch((err) => Promise.reject(fail(err, signal)))
        const pending = [base]
        while (pending.length) {
          const rel = pending.pop()!
          let entries: FileEntryWithStats[]
          try {
            signal?.throwIfAborted()
            entries = await op.readdir(s.sftp, full(rel ? rel.split('/').slice(0, -1) : []))
          } catch (err) {
            if (op.isMissing(err)) continue // no such folder, or removed while listing
            throw fail(err, signal)
          }
          for (const entry of entries) {
            const key = rel + entry.filename
            if (entry.attrs.isDirectory()) {
              const sub = key + '/'
              if (prefix.startsWith(sub) || sub.startsWith(prefix)) pending.push(sub)
            } else if (
              entry.attrs.isFile() &&
              !TEMP.test(entry.filename) &&
              key.startsWith(prefix)
            ) {
              yield { key, size: entry.attrs.size } satisfies ObjectInfo
            }
          }
        }
      } finally {
        release()
      }
    },

    async stat(key, { signal } = {}) {
      const parts = segments(key)
      return run(signal, undefined, async (s) => {
        const st = await op.lstat(s.sftp, full(parts))
        if (!st.isFile()) throw new StorageError('NotFound', 'the object does not exist')
        return { key, size: st.size }
      })
    },

    async remove(key, { signal } = {}) {
      const parts = segments(key)
      const dir = full(parts.slice(0, -1))
      await run(signal, dir, (s) => op.unlink(s.sftp, full(parts))).catch((err: StorageError) => {
        if (err.code !== 'NotFound') throw err
      })
    },

    close,
  }
}
