import { Agent as HttpAgent, type AgentOptions } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { LookupFunction, Socket } from 'node:net'
import { fetch, type RequestInit } from '@buttercup/fetch'
import {
  getPatcher,
  parseXML,
  prepareFileFromProps,
  type FileStat,
  type WebDAVClient,
} from 'webdav'
import { guardedLookup, type GuardPolicy } from '../guard.ts'
import { RedirectRefused } from './errors.ts'

/** A socket with no traffic this long is cut (connect, upload, waiting for an answer). */
const IDLE_MS = 120_000

let installed = false

/**
 * The `webdav` client follows redirects (node-fetch's default) and has no option against it, so
 * its fetch is swapped, once per process, for the same fetch with `redirect: 'manual'`; a 3xx
 * answer then rejects with `RedirectRefused`. A followed redirect could reach a host the guard
 * never checked (IP literals skip `lookup`), with the credentials attached.
 */
export function refuseRedirects(): void {
  if (installed) return
  installed = true
  getPatcher().patch('fetch', async (...args: unknown[]) => {
    const [url, init] = args as [string, RequestInit]
    const res = await fetch(url, { ...init, redirect: 'manual' })
    if (res.status >= 300 && res.status < 400 && res.status !== 304) {
      res.body?.resume()
      throw new RedirectRefused(res.status, res.headers.get('location'))
    }
    return res
  })
}

/**
 * Keep-alive agents whose every connection resolves through the guard (`lookup`), and whose
 * sockets are cut with ETIMEDOUT after IDLE_MS without traffic. node-fetch lifts the timeout
 * while a response body streams, so a stalled download is the reader's to cancel.
 */
export function guardedAgents(guard: GuardPolicy) {
  const lookup = guardedLookup(guard) as unknown as LookupFunction
  const options: AgentOptions = { keepAlive: true, maxSockets: 8, timeout: IDLE_MS, lookup }
  return { httpAgent: new (idle(HttpAgent))(options), httpsAgent: new (idle(HttpsAgent))(options) }
}

/** An Agent class whose sockets are cut with ETIMEDOUT after IDLE_MS without traffic. */
function idle<A extends typeof HttpAgent>(Base: A): A {
  // @ts-expect-error: a mixin over both Agent classes; createConnection is their shared hook.
  return class extends Base {
    createConnection(options: unknown, callback: unknown): Socket {
      // @ts-expect-error: forwarded as given
      const socket: Socket = super.createConnection(options, callback)
      socket.setTimeout(IDLE_MS)
      socket.on('timeout', () =>
        socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
      )
      return socket
    }
  }
}

/** Apache answers a folder's name without the trailing slash with a redirect to it. */
export function folderRedirect(err: unknown): boolean {
  return err instanceof RedirectRefused && (err.location ?? '').endsWith('/')
}

/** Lets an error response's body go, so its keep-alive socket returns to the pool. */
export function drain(err: unknown): void {
  const body = (err as { response?: { body?: { resume?: () => void } } })?.response?.body
  body?.resume?.()
}

/** `text` URL-decoded, or as it is when it is not valid percent-encoding. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/**
 * The direct children of the folder at `path`: PROPFIND `Depth: 1` on its URL with the trailing
 * slash (the client's getDirectoryContents drops it, and Apache redirects a folder asked
 * without). `hrefPath` is the folder's decoded path from the server's root, as hrefs give it;
 * the folder's own entry, and a file's when `path` is a file, are skipped.
 */
export async function childrenOf(
  client: WebDAVClient,
  path: string,
  hrefPath: string,
  signal?: AbortSignal,
): Promise<FileStat[]> {
  const res = await client.customRequest(path + '/', {
    method: 'PROPFIND',
    headers: { Depth: '1', Accept: 'text/plain,application/xml' },
    signal,
  })
  const result = await parseXML(await res.text())
  const out: FileStat[] = []
  for (const item of result.multistatus.response ?? []) {
    const href = safeDecode(String(item.href ?? '').replace(/^https?:\/\/[^/]+/i, '')).replace(
      /\/+$/,
      '',
    )
    const name = href.slice(href.lastIndexOf('/') + 1)
    if (!name || href !== `${hrefPath}/${name}`) continue
    // A server may split the properties into a found and a not-found propstat.
    const stats = [item.propstat ?? []].flat() as { prop?: unknown; status?: string }[]
    const found =
      stats.find((p) => /\s2\d\d\s/.test(` ${p.status ?? 'HTTP/1.1 200 OK'} `)) ?? stats[0]
    if (found?.prop)
      out.push(prepareFileFromProps(found.prop as Parameters<typeof prepareFileFromProps>[0], href))
  }
  return out
}
