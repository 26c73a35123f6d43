import type { IncomingMessage } from 'node:http'
import { Readable, Transform, addAbortSignal } from 'node:stream'
import { StorageError, type Driver } from '../types.ts'
import type { DropboxApi } from './api.ts'
import { DropboxApiError } from './client.ts'
import { classify } from './errors.ts'

/** Puts up to this size go in one files/upload; larger ones in upload-session chunks this big. */
export const CHUNK = 8 << 20

type Metadata = { '.tag': string; path_display: string; size?: number; rev?: string }
type Page = { entries: Metadata[]; cursor: string; has_more: boolean }

/**
 * Objects as files under the Dropbox folder `root` (`/backups/<tenant>`), one folder per `/`
 * in the key. Dropbox creates parent folders itself and compares paths case-insensitively
 * (restic's keys are lowercase hex, so they never collide).
 *
 * Puts are atomic: a file appears only when files/upload or upload_session/finish commits it
 * (mode overwrite), so an interrupted upload leaves nothing visible (Dropbox drops an unfinished
 * session after a week). Each chunk is read into memory first, at most 8 MiB per put, which
 * also lets a request be re-sent after an access token is renewed. Cancelling through `signal`
 * rejects with a `Transient` StorageError (a get's stream is destroyed with an AbortError).
 */
export function dropboxDriver(api: DropboxApi, root: string): Driver {
  const depth = root.split('/').length
  const pathOf = (key: string) => `${root}/${segments(key).join('/')}`
  const fail = (err: unknown, signal?: AbortSignal) =>
    signal?.aborted && !(err instanceof StorageError && err.code !== 'Transient')
      ? new StorageError('Transient', 'the operation was cancelled', { cause: err })
      : classify(err)
  const metadata = (path: string, signal?: AbortSignal) =>
    api.rpc<Metadata>('files/get_metadata', { path }, signal)

  const driver: Driver = {
    capabilities: { atomicPut: true, rangeGet: true, maxConnections: 4 },

    async put(key, open, { size, signal }) {
      try {
        const path = pathOf(key)
        if (!Number.isSafeInteger(size) || size < 0)
          throw new StorageError('BadConfig', 'invalid object size')
        signal?.throwIfAborted()
        const commit = {
          path,
          mode: 'overwrite',
          autorename: false,
          mute: true,
          strict_conflict: false,
        }
        const source = open()
        if (signal) addAbortSignal(signal, source)
        let session: string | undefined
        let offset = 0
        for await (const chunk of pieces(source, size)) {
          const last = offset + chunk.length === size
          if (last && session === undefined) {
            await api.upload('files/upload', commit, chunk, signal)
          } else if (session === undefined) {
            const started = await api.upload<{ session_id: string }>(
              'files/upload_session/start',
              { close: false },
              chunk,
              signal,
            )
            session = started.session_id
          } else {
            const cursor = { session_id: session, offset }
            if (last)
              await api.upload('files/upload_session/finish', { cursor, commit }, chunk, signal)
            else
              await api.upload(
                'files/upload_session/append_v2',
                { cursor, close: false },
                chunk,
                signal,
              )
          }
          offset += chunk.length
        }
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async get(key, { range, signal } = {}) {
      try {
        const path = pathOf(key)
        const start = range?.start ?? 0
        const end = range?.end
        if (!isOffset(start) || (end !== undefined && !isOffset(end))) {
          throw new StorageError('BadConfig', 'invalid byte range')
        }
        signal?.throwIfAborted()
        if (end !== undefined && end <= start) {
          await driver.stat(key, { signal })
          return Readable.from([])
        }
        const ranged = start > 0 || end !== undefined
        const headers: Record<string, string> = ranged
          ? { Range: `bytes=${start}-${end === undefined ? '' : end - 1}` }
          : {}
        let res: IncomingMessage
        try {
          res = await api.download({ path }, headers, signal)
        } catch (err) {
          // Range past the end: nothing to read (the object exists, or the answer would be 409).
          if (err instanceof DropboxApiError && err.status === 416) return Readable.from([])
          throw err
        }
        let body: Readable = res
        if (ranged && res.statusCode === 200) {
          body = res.pipe(slice(start, end))
          res.on('error', (err) => body.destroy(err))
        }
        return signal ? addAbortSignal(signal, body) : body
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async *list(prefix, { signal } = {}) {
      const base = prefix.slice(0, prefix.lastIndexOf('/') + 1)
      let page: Page
      try {
        if (prefix.includes('\0')) throw invalid(prefix)
        const folder = base ? pathOf(base.slice(0, -1)) : root
        signal?.throwIfAborted()
        page = await api.rpc<Page>('files/list_folder', { path: folder, recursive: true }, signal)
      } catch (err) {
        const e = fail(err, signal)
        if (e.code === 'NotFound') return // no such folder (yet), or a file in its place
        throw e
      }
      for (;;) {
        for (const entry of page.entries) {
          if (entry['.tag'] !== 'file') continue
          const key = entry.path_display.split('/').slice(depth).join('/')
          if (key.startsWith(prefix)) yield { key, size: entry.size ?? 0 }
        }
        if (!page.has_more) return
        try {
          signal?.throwIfAborted()
          page = await api.rpc<Page>('files/list_folder/continue', { cursor: page.cursor }, signal)
        } catch (err) {
          throw fail(err, signal)
        }
      }
    },

    async stat(key, { signal } = {}) {
      try {
        const path = pathOf(key)
        signal?.throwIfAborted()
        const meta = await metadata(path, signal)
        if (meta['.tag'] !== 'file') throw new StorageError('NotFound', 'the object does not exist')
        return { key, size: meta.size ?? 0 }
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async remove(key, { signal } = {}) {
      try {
        const path = pathOf(key)
        signal?.throwIfAborted()
        // delete_v2 removes folders recursively: only ever delete the file revision just seen.
        const meta = await metadata(path, signal)
        if (meta['.tag'] !== 'file') return
        await api.rpc('files/delete_v2', { path, parent_rev: meta.rev }, signal)
      } catch (err) {
        const e = fail(err, signal)
        if (e.code !== 'NotFound') throw e
      }
    },

    async close() {
      api.close()
    },
  }
  return driver
}

function invalid(key: string): StorageError {
  return new StorageError('BadConfig', `invalid object key ${JSON.stringify(key)}`)
}

/** A key's segments; BadConfig for anything that could leave the root folder. */
function segments(key: string): string[] {
  const parts = key.split('/')
  if (key.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw invalid(key)
  return parts
}

function isOffset(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0
}

/**
 * `source` cut into CHUNK-sized Buffers; the last (possibly short or empty) one is yielded only
 * after the source ended with exactly `size` bytes, so a short or long source never commits.
 */
async function* pieces(source: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = []
  let have = 0
  let sent = 0
  let total = 0
  try {
    for await (const chunk of source) {
      let buf: Buffer =
        typeof chunk === 'string'
          ? Buffer.from(chunk)
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      total += buf.length
      if (total > size)
        throw new StorageError('Transient', `expected ${size} bytes but the source gave more`)
      while (buf.length) {
        const take = Math.min(CHUNK - have, buf.length)
        parts.push(buf.subarray(0, take))
        have += take
        buf = buf.subarray(take)
        if (have === CHUNK && sent + CHUNK < size) {
          yield Buffer.concat(parts)
          sent += CHUNK
          parts = []
          have = 0
        }
      }
    }
  } catch (err) {
    // Anything but our own error or a cancel is the source breaking off (a dropped upload).
    if (err instanceof StorageError || (err as Error)?.name === 'AbortError') throw err
    throw new StorageError('Transient', 'the upload source failed', { cause: err })
  }
  if (total !== size)
    throw new StorageError('Transient', `expected ${size} bytes but the source gave ${total}`)
  yield Buffer.concat(parts)
}

/** Bytes [start, end) of a stream that ignored the Range header. */
function slice(start: number, end?: number): Transform {
  let pos = 0
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const from = Math.max(start - pos, 0)
      const to = end === undefined ? chunk.length : Math.min(end - pos, chunk.length)
      pos += chunk.length
      done(null, to > from ? chunk.subarray(from, to) : undefined)
    },
  })
}
