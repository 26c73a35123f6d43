import { randomBytes } from 'node:crypto'
import { Readable, addAbortSignal, pipeline } from 'node:stream'
import { AuthType, createClient, type FileStat } from 'webdav'
import { StorageError, type Driver, type ObjectInfo } from '../types.ts'
import { checkUrlHost, type GuardPolicy } from '../guard.ts'
import { classify } from './errors.ts'
import {
  childrenOf,
  drain,
  folderRedirect,
  guardedAgents,
  refuseRedirects,
  safeDecode,
} from './transport.ts'
import { TEMP, keySegments, prefixFolder, type KeyRules } from '../keys.ts'
import { byteRange, rangeHeader, slice } from '../streams.ts'
import { exactly } from './bytes.ts'
import { capabilities } from './settings.ts'

/** Keys never name a temp file (see `put`), nor hold a `\` (some servers read it as `/`). */
const RULES: KeyRules = { temp: true, forbidden: /\\/ }
const segments = (key: string) => keySegments(key, RULES)

export type WebdavOptions = {
  /** The server's address, without a trailing slash. */
  url: string
  /** Folders below `url` that hold the objects (the user's path, then the tenant). */
  folder: string[]
  username: string
  password: string
  guard: GuardPolicy
}

/**
 * Objects as files in a WebDAV folder (RFC 4918), through the `webdav` client. The host is
 * checked against the guard at first use and on every connection; redirects are refused.
 *
 * A put streams the body (with its Content-Length) to a temporary name beside the target and
 * MOVEs it onto the key with `Overwrite: T`, so readers never see a partial object; missing
 * folders are created (MKCOL, level by level) on the first put into them. Listing walks the
 * tree with `Depth: 1` PROPFINDs, since many servers refuse `Depth: infinity`.
 */
export function webdavDriver(opts: WebdavOptions): Driver {
  refuseRedirects()
  const url = new URL(opts.url) // validated with the settings
  /** host:port for messages (never the credentials, which travel in a header). */
  const origin = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`
  const { httpAgent, httpsAgent } = guardedAgents(opts.guard)
  const client = createClient(opts.url, {
    authType: opts.username ? AuthType.Password : AuthType.None,
    username: opts.username || undefined,
    password: opts.password,
    httpAgent,
    httpsAgent,
  })
  /** Folder paths known to exist, so a put into them needs no MKCOL. */
  const known = new Set<string>()
  let checked: Promise<void> | undefined
  /** The guard's verdict on the URL's host, taken once (IP literals never reach `lookup`). */
  const ready = () =>
    (checked ??= checkUrlHost(opts.guard, opts.url).catch((err) => {
      checked = undefined
      throw err
    }))
  const pathOf = (parts: string[]) => '/' + [...opts.folder, ...parts].join('/')
  const fail = (err: unknown, signal?: AbortSignal) => {
    drain(err)
    return signal?.aborted && !(err instanceof StorageError && err.permanent)
      ? new StorageError('Transient', 'the operation was cancelled', { cause: err })
      : classify(err, origin)
  }

  /** MKCOL of `parts` (relative to the URL, not to the folder). */
  async function mkcol(
    parts: string[],
    signal?: AbortSignal,
  ): Promise<'made' | 'exists' | 'no parent'> {
    try {
      await client.customRequest('/' + parts.join('/') + '/', { method: 'MKCOL', signal })
      return 'made'
    } catch (err) {
      const status = (err as { status?: number }).status
      if (status === 405 || status === 409) {
        drain(err)
        return status === 405 ? 'exists' : 'no parent'
      }
      // Two MKCOLs of one new folder at once (restic uploads in parallel): Apache's mod_dav_fs
      // answers the later one 403 "Unable to create collection" instead of 405. A folder that
      // is there now is all that was asked for; otherwise the refusal stands.
      if (status === undefined) throw err
      const now = await findAt('/' + parts.join('/'), signal).catch((e) => (drain(e), null))
      if (now !== 'folder') throw err
      drain(err)
      return 'exists'
    }
  }

  /** Creates the folder `parts` (relative to the URL) and any missing parents. */
  async function ensureFolder(parts: string[], signal?: AbortSignal): Promise<void> {
    const path = '/' + parts.join('/')
    if (parts.length === 0 || known.has(path)) return
    let result = await mkcol(parts, signal)
    if (result === 'no parent' && parts.length > 1) {
      await ensureFolder(parts.slice(0, -1), signal)
      result = await mkcol(parts, signal)
    }
    if (result === 'no parent') {
      throw new StorageError(
        'BadConfig',
        `the address ${opts.url} does not exist on the server; check the URL`,
      )
    }
    for (let i = 1; i <= parts.length; i++) known.add('/' + parts.slice(0, i).join('/'))
  }

  /** The URL's own path, decoded, as hrefs in PROPFIND answers start with it. */
  const urlPath = safeDecode(url.pathname).replace(/\/+$/, '')
  const children = (parts: string[], signal?: AbortSignal) =>
    childrenOf(client, pathOf(parts), urlPath + pathOf(parts), signal)

  /** An object's stat, `'folder'` when a folder has that name, null when nothing does. */
  const find = (parts: string[], signal?: AbortSignal) => findAt(pathOf(parts), signal)

  /** `find` by a path relative to the URL (not to the folder). */
  async function findAt(path: string, signal?: AbortSignal): Promise<FileStat | 'folder' | null> {
    try {
      const info = (await client.stat(path, { signal })) as FileStat
      return info.type === 'file' ? info : 'folder'
    } catch (err) {
      if (folderRedirect(err)) return 'folder'
      const status = (err as { status?: number }).status
      if (status !== 404 && status !== 409) throw err
      drain(err)
      return null
    }
  }

  async function statOf(parts: string[], signal?: AbortSignal): Promise<FileStat> {
    const info = await find(parts, signal)
    if (info === null || info === 'folder')
      throw new StorageError('NotFound', 'the object does not exist')
    return info
  }

  return {
    capabilities,

    async put(key, open, { size, signal }) {
      let temp: string | undefined
      let sourceError: StorageError | undefined
      try {
        const parts = segments(key)
        signal?.throwIfAborted()
        await ready()
        const dir = parts.slice(0, -1)
        await ensureFolder([...opts.folder, ...dir], signal)
        const body = exactly(open(), size, (e) => (sourceError ??= e))
        temp = pathOf([...dir, `.${parts.at(-1)}.tmp-${randomBytes(6).toString('hex')}`])
        await client.putFileContents(temp, body, {
          headers: { 'Content-Length': String(size) },
          overwrite: true,
          signal,
        })
        signal?.throwIfAborted()
        await client.moveFile(temp, pathOf(parts), { overwrite: true, signal })
        temp = undefined
      } catch (err) {
        if ((err as { status?: number }).status === 409) {
          // A folder vanished under us (or a file sits where one should be): look again next time.
          known.clear()
          drain(err)
          err = new StorageError(
            'Transient',
            'a folder on the way to the object is missing on the server',
          )
        }
        if (temp) {
          const leftover = temp
          await client.deleteFile(leftover, { signal: AbortSignal.timeout(15_000) }).catch(drain)
        }
        throw fail(sourceError ?? err, signal)
      }
    },

    async get(key, { range, signal } = {}) {
      try {
        const parts = segments(key)
        const bytes = byteRange(range)
        signal?.throwIfAborted()
        await ready()
        if (bytes.empty) {
          await statOf(parts, signal)
          return Readable.from([])
        }
        const wanted = rangeHeader(bytes)
        const headers: Record<string, string> = wanted ? { Range: wanted } : {}
        const res = await client
          .customRequest(pathOf(parts), { method: 'GET', headers, signal })
          .catch((err) => {
            if ((err as { status?: number }).status === 416) return null // starts at or past the end
            if (folderRedirect(err)) throw new StorageError('NotFound', 'the object does not exist')
            throw err
          })
        if (!res) return Readable.from([])
        let body = (res as unknown as { body: Readable }).body
        // A server that ignores Range sends everything: cut the range out here.
        if (wanted && res.status !== 206)
          body = pipeline(body, slice(bytes.start, bytes.end), () => {})
        return signal ? addAbortSignal(signal, body) : body
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async *list(prefix, { signal } = {}) {
      let base: string
      try {
        base = prefixFolder(prefix, RULES)
        signal?.throwIfAborted()
        await ready()
      } catch (err) {
        throw fail(err, signal)
      }
      yield* walk(base)

      async function* walk(rel: string): AsyncGenerator<ObjectInfo> {
        const parts = rel ? rel.slice(0, -1).split('/') : []
        let items: FileStat[]
        try {
          items = await children(parts, signal)
        } catch (err) {
          const e = fail(err, signal)
          if (e.code === 'NotFound') return // no such folder (yet), or removed while listing
          throw e
        }
        for (const item of items) {
          const key = rel + item.basename
          if (item.type === 'directory') {
            const sub = key + '/'
            if (prefix.startsWith(sub) || sub.startsWith(prefix)) yield* walk(sub)
          } else if (!TEMP.test(item.basename) && key.startsWith(prefix)) {
            yield { key, size: item.size }
          }
        }
      }
    },

    async stat(key, { signal } = {}) {
      try {
        const parts = segments(key)
        signal?.throwIfAborted()
        await ready()
        return { key, size: (await statOf(parts, signal)).size }
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async remove(key, { signal } = {}) {
      try {
        const parts = segments(key)
        signal?.throwIfAborted()
        await ready()
        // DELETE on a folder removes all of it: make sure the key is an object first.
        const info = await find(parts, signal)
        if (info === 'folder')
          throw new StorageError('BadConfig', 'a folder is in the way of that object')
        if (info) await client.deleteFile(pathOf(parts), { signal })
      } catch (err) {
        const e = fail(err, signal)
        if (e.code !== 'NotFound') throw e
      }
    },

    async close() {
      httpAgent.destroy()
      httpsAgent.destroy()
    },
  }
}
