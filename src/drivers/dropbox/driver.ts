import type { IncomingMessage } from 'node:http'
import { Readable, addAbortSignal } from 'node:stream'
import { keySegments, prefixFolder } from '../keys.ts'
import { byteRange, chunked, rangeHeader, slice } from '../streams.ts'
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
  const pathOf = (key: string) => `${root}/${keySegments(key).join('/')}`
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
        let session: string | undefined
        let offset = 0
        for await (const chunk of chunked(open(), size, CHUNK, signal)) {
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
        const bytes = byteRange(range)
        signal?.throwIfAborted()
        if (bytes.empty) {
          await driver.stat(key, { signal })
          return Readable.from([])
        }
        const wanted = rangeHeader(bytes)
        const headers: Record<string, string> = wanted ? { Range: wanted } : {}
        let res: IncomingMessage
        try {
          res = await api.download({ path }, headers, signal)
        } catch (err) {
          // Range past the end: nothing to read (the object exists, or the answer would be 409).
          if (err instanceof DropboxApiError && err.status === 416) return Readable.from([])
          throw err
        }
        let body: Readable = res
        if (wanted && res.statusCode === 200) {
          body = res.pipe(slice(bytes.start, bytes.end))
          res.on('error', (err) => body.destroy(err))
        }
        return signal ? addAbortSignal(signal, body) : body
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async *list(prefix, { signal } = {}) {
      let page: Page
      try {
        const base = prefixFolder(prefix)
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
