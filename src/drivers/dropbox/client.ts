import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import { checkUrlHost, guardedLookup, type GuardPolicy } from '../guard.ts'

/**
 * Dropbox's three hosts. `PANEL_DROPBOX_API_BASE` (tests only, e.g. `http://127.0.0.1:4010`)
 * points all of them at one fake server; it is read here and nowhere else, never from a
 * tenant's settings.
 */
export function endpoints(): { api: string; content: string; www: string } {
  const base = process.env.PANEL_DROPBOX_API_BASE?.replace(/\/+$/, '')
  if (base) return { api: base, content: base, www: base }
  return {
    api: 'https://api.dropboxapi.com',
    content: 'https://content.dropboxapi.com',
    www: 'https://www.dropbox.com',
  }
}

/**
 * A non-2xx answer from Dropbox. `tag` is the error's `.tag` (API routes) or its `error` code
 * (`/oauth2/token`, e.g. `invalid_grant`); `summary` is `error_summary` or that code.
 */
export class DropboxApiError extends Error {
  constructor(
    readonly route: string,
    readonly status: number,
    readonly tag: string,
    readonly summary: string,
    readonly retryAfter?: number,
    readonly detail?: unknown,
  ) {
    super(`Dropbox ${route}: HTTP ${status} ${summary}`)
    this.name = 'DropboxApiError'
  }
}

/** One HTTPS (or, for the test fake, HTTP) connection pool whose every address passed the guard. */
export type Transport = {
  /** POSTs (or GETs, without a body) and resolves once the response headers arrive, any status. */
  send(
    url: string,
    opts: {
      method?: 'GET' | 'POST'
      headers: Record<string, string>
      body?: Buffer
      signal?: AbortSignal
    },
  ): Promise<IncomingMessage>
  close(): void
}

/** Idle socket time after which a request (or a stalled download) fails as timed out. */
const IDLE_MS = 120_000

export function transport(guard: GuardPolicy): Transport {
  const lookup = guardedLookup(guard)
  const agents = {
    'http:': new http.Agent({ keepAlive: true, lookup } as http.AgentOptions),
    'https:': new https.Agent({ keepAlive: true, lookup } as https.AgentOptions),
  }
  // Node skips `lookup` for IP literals, so those are checked once, before any connection.
  const literals = new Map<string, Promise<void>>()
  return {
    async send(url, { method = 'POST', headers, body, signal }) {
      const u = new URL(url)
      if (u.protocol !== 'https:' && u.protocol !== 'http:')
        throw new Error(`unsupported URL ${u.protocol}`)
      if (isIP(u.hostname.replace(/^\[|\]$/g, ''))) {
        if (!literals.has(u.host)) literals.set(u.host, checkUrlHost(guard, url))
        await literals.get(u.host)
      }
      const lib = u.protocol === 'https:' ? https : http
      return new Promise((resolve, reject) => {
        const length = body ? { 'Content-Length': String(body.length) } : {}
        const req = lib.request(u, {
          method,
          agent: agents[u.protocol as 'http:' | 'https:'],
          headers: { ...headers, ...length },
          signal,
          timeout: IDLE_MS,
        })
        req.on('response', resolve)
        req.on('error', reject)
        req.on('timeout', () =>
          req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
        )
        req.end(body)
      })
    },
    close() {
      agents['http:'].destroy()
      agents['https:'].destroy()
    },
  }
}

/** The body of a small response (JSON, an error), refusing more than `limit` bytes. */
export async function readBody(res: IncomingMessage, limit = 4 << 20): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res) {
    size += chunk.length
    if (size > limit) {
      res.destroy()
      throw new Error('response too large')
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Reads a failed response into a DropboxApiError. */
export async function apiError(route: string, res: IncomingMessage): Promise<DropboxApiError> {
  const text = (await readBody(res, 64 << 10).catch(() => Buffer.alloc(0))).toString('utf8')
  const retry = Number(res.headers['retry-after'])
  const retryAfter = Number.isFinite(retry) && retry >= 0 ? retry : undefined
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    // 400 and 5xx answers are plain text
  }
  const status = res.statusCode ?? 0
  if (json && typeof json.error === 'string') {
    // OAuth errors: {"error": "invalid_grant", ...} or {"error": "invalid_client: Invalid ..."}
    const tag = json.error.split(':')[0]!.trim()
    return new DropboxApiError(route, status, tag, tag, retryAfter)
  }
  if (json && typeof json.error_summary === 'string') {
    const tag = String(json.error?.['.tag'] ?? json.error_summary.split('/')[0])
    return new DropboxApiError(route, status, tag, json.error_summary, retryAfter, json.error)
  }
  const line = text.split('\n')[0]!.slice(0, 200)
  return new DropboxApiError(route, status, '', line, retryAfter)
}

/** JSON for a `Dropbox-API-Arg` header: everything outside ASCII escaped, as Dropbox asks. */
export function headerJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** Waits for `p`, or rejects with the signal's reason as soon as it fires. */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p
  signal.throwIfAborted()
  return new Promise((resolve, reject) => {
    const quit = () => reject(signal.reason)
    signal.addEventListener('abort', quit, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', quit))
  })
}
