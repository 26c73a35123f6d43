import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { Transform, pipeline, type Readable } from 'node:stream'
import { pipeline as pump } from 'node:stream/promises'
import { StorageError, type Driver } from '../../drivers/types.ts'

/** The error a driver's retry of a bridge upload meets: restic re-sends it, not the driver. */
export const NOT_REREADABLE = 'a bridge upload cannot be re-read'

/** A running bridge; see `startBridge`. */
export type Bridge = {
  /** `rest:http://<user>:<pass>@127.0.0.1:<port>/` for RESTIC_REPOSITORY. Secret: never log it. */
  url: string
  /** Stops listening and drops open connections. */
  close(): Promise<void>
  /** Object bytes received (uploads) and sent (downloads), and requests seen, so far. */
  stats(): { bytesIn: number; bytesOut: number; requests: number }
}

const V2 = 'application/vnd.x.restic.rest.v2'
const TYPES = new Set(['data', 'keys', 'locks', 'snapshots', 'index'])
const NAME = /^[0-9a-f]{64}$/

/** restic's local layout, so stock `restic -r <folder>` can open what the bridge stored. */
function keyOf(type: string, name: string): string {
  return type === 'data' ? `data/${name.slice(0, 2)}/${name}` : `${type}/${name}`
}

/**
 * Serves `driver` to restic over its REST backend protocol (v1, and v2 when the request's
 * Accept asks for it) on 127.0.0.1, at a random port behind random basic-auth credentials.
 * Names must be 64 lowercase hex (else 400), so no request reaches outside restic's layout.
 *
 * Everything streams. An upload's `open()` factory can only be called once, since the request
 * body cannot be re-read: a second call rejects `Transient`, and retrying that upload is
 * restic's job (it re-sends the request). Retries and limits for everything else belong in the
 * driver passed in (`withRetry`). Storage failures answer 404 (NotFound) or 500 with the error
 * code only; details go to `opts.log`.
 */
export async function startBridge(
  driver: Driver,
  opts: { log?: (msg: string) => void } = {},
): Promise<Bridge> {
  const log = opts.log ?? (() => {})
  const user = randomBytes(12).toString('base64url')
  const pass = randomBytes(24).toString('base64url')
  const expected = digest(`${user}:${pass}`)
  const counts = { bytesIn: 0, bytesOut: 0, requests: 0 }

  // No overall request deadline: a 16 MiB pack to a slow remote may take minutes to upload.
  const server = createServer({ requestTimeout: 0 }, (req, res) => {
    counts.requests++
    if (!authorized(req.headers.authorization, expected)) {
      log(`bridge: ${req.method} refused: wrong or missing credentials`)
      return send(res, 401, 'unauthorized', { 'WWW-Authenticate': 'Basic realm="restic"' })
    }
    // pipeline() detaches the socket from a failed upload; keep it to close it ourselves.
    const socket = req.socket
    void serve(driver, req, res, counts).catch((err) => {
      const path = (req.url ?? '').split('?')[0]
      const code = err instanceof StorageError ? err.code : undefined
      if (code !== 'NotFound') log(`bridge: ${req.method} ${path} failed: ${err?.message ?? err}`)
      if (res.headersSent) res.destroy()
      else if (code === 'NotFound') send(res, 404, 'not found')
      else send(res, 500, code ? `storage error (${code})` : 'internal error')
      // An upload cut off before its body was read would leave restic waiting on this
      // connection until keep-alive ends (a minute): close it so restic retries at once.
      if (!req.complete) res.once('finish', () => socket.destroy())
    })
  })
  // Outlive Go's idle connections a little less eagerly than Node's 5 s default.
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  return {
    url: `rest:http://${user}:${pass}@127.0.0.1:${port}/`,
    stats: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Basic auth, compared as fixed-length hashes so timing reveals nothing about the secret. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const m = /^basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '')
  const given = digest(m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '')
  return timingSafeEqual(given, expected)
}

function send(res: ServerResponse, status: number, text = '', headers: OutgoingHttpHeaders = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': text.length, ...headers })
  res.end(text)
}

/** Routes one authorized request; rejects with the error to map. */
async function serve(
  driver: Driver,
  req: IncomingMessage,
  res: ServerResponse,
  counts: { bytesIn: number; bytesOut: number },
): Promise<void> {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  // The raw path, deliberately not URL-normalized: `/data/../x` must not turn into `/x`.
  const path = q < 0 ? url : url.slice(0, q)
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
  const ac = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) ac.abort()
  })
  const signal = ac.signal

  if (path === '/') {
    // Object stores need no skeleton: folders appear with the first object in them.
    if (req.method === 'POST' && query.get('create') === 'true') return send(res, 200)
    return send(res, 405, 'method not allowed')
  }
  const target = route(path)
  if ('status' in target) return send(res, target.status, target.text)
  if ('list' in target) {
    if (req.method !== 'GET') return send(res, 405, 'method not allowed')
    return list(driver, target.list, req.headers.accept, res, signal)
  }
  const { key } = target

  switch (req.method) {
    case 'HEAD': {
      const { size } = await driver.stat(key, { signal })
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size })
      return void res.end()
    }
    case 'GET':
      return download(driver, key, req.headers.range, res, signal, (n) => (counts.bytesOut += n))
    case 'POST':
      return upload(driver, key, req, res, signal, (n) => (counts.bytesIn += n))
    case 'DELETE':
      await driver.remove(key, { signal })
      return send(res, 200)
    default:
      return send(res, 405, 'method not allowed')
  }
}

/** Maps a raw request path to a driver key, a listing, or a refusal. */
function route(
  path: string,
): { key: string } | { list: string } | { status: number; text: string } {
  if (path === '/config') return { key: 'config' }
  const [, type = '', name, ...rest] = path.split('/')
  if (!TYPES.has(type) || name === undefined || rest.length > 0) {
    return { status: 404, text: 'not found' }
  }
  if (name === '') return { list: type }
  if (!NAME.test(name)) return { status: 400, text: 'invalid object name' }
  return { key: keyOf(type, name) }
}

/** POST: streams the body into the driver; restic always sends Content-Length. */
async function upload(
  driver: Driver,
  key: string,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
  onBytes: (n: number) => void,
) {
  const length = req.headers['content-length']
  if (!length || !/^\d+$/.test(length)) return send(res, 411, 'Content-Length required')
  let opened = false
  const open = (): Readable => {
    // The body streams past once; a retry has to come from restic re-sending the request.
    if (opened) throw new StorageError('Transient', NOT_REREADABLE)
    opened = true
    // Errors reach the driver through the counter; the callback only keeps pipeline quiet.
    return pipeline(req, counter(onBytes), () => {})
  }
  await driver.put(key, open, { size: Number(length), signal })
  send(res, 200)
}

/** GET with `Range: bytes=a-b` or `bytes=a-` (206); any other form is answered 416. */
async function download(
  driver: Driver,
  key: string,
  range: string | undefined,
  res: ServerResponse,
  signal: AbortSignal,
  onBytes: (n: number) => void,
) {
  const { size } = await driver.stat(key, { signal })
  const headers: OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream' }
  let start = 0
  let end = size
  let status = 200
  // restic asks `bytes=0-` even for a whole object; an empty one is simply sent whole.
  if (range !== undefined && !(size === 0 && range === 'bytes=0-')) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(range)
    const last = m?.[2] ? Number(m[2]) : size - 1
    if (!m || Number(m[1]) >= size || last < Number(m[1])) {
      return send(res, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` })
    }
    start = Number(m[1])
    end = Math.min(last + 1, size)
    status = 206
    headers['Content-Range'] = `bytes ${start}-${end - 1}/${size}`
  }
  const body = await driver.get(key, { range: { start, end }, signal })
  res.writeHead(status, { ...headers, 'Content-Length': end - start })
  await pump(body, counter(onBytes), res)
}

/** `GET /{type}/`: names (v1) or names and sizes (v2), streamed as one JSON array. */
async function list(
  driver: Driver,
  type: string,
  accept: string | undefined,
  res: ServerResponse,
  signal: AbortSignal,
) {
  const v2 = (accept ?? '').split(',').some((a) => a.trim() === V2)
  let first = true
  for await (const { key, size } of driver.list(`${type}/`, { signal })) {
    const name = key.slice(key.lastIndexOf('/') + 1)
    // Only what restic itself would have stored there; stray files are not repository objects.
    if (!NAME.test(name) || key !== keyOf(type, name)) continue
    // Headers wait for the first entry so an early failure can still answer 500.
    if (first) res.writeHead(200, { 'Content-Type': v2 ? V2 : 'application/vnd.x.restic.rest.v1' })
    const item = JSON.stringify(v2 ? { name, size } : name)
    if (!res.write((first ? '[' : ',') + item)) {
      await once(res, 'drain', { signal })
    }
    first = false
  }
  if (first) res.writeHead(200, { 'Content-Type': v2 ? V2 : 'application/vnd.x.restic.rest.v1' })
  res.end(first ? '[]' : ']')
}

function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      onBytes(chunk.length)
      done(null, chunk)
    },
  })
}
