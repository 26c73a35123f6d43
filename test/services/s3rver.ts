import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

/** A throwaway s3rver (a small S3 imitation) on loopback, one per test file. */
export type S3rverServer = {
  host: '127.0.0.1'
  port: number
  /** `127.0.0.1:<port>`, as the S3 destination's Endpoint field takes it. */
  endpoint: string
  /** The credentials s3rver accepts (its one built-in account). */
  accessKeyId: string
  secretAccessKey: string
  /** The data folder: one sub-folder per bucket. */
  dir: string
  /** With `tls`: the self-signed certificate (for localhost and 127.0.0.1), as PEM and as a file. */
  cert?: { pem: string; path: string }
  /** Multipart uploads begun and neither completed nor aborted (their parts are invisible). */
  openUploads(bucket: string): number
  /** Creates an empty bucket (s3rver's store is a folder per bucket). */
  createBucket(name: string): void
  /** SIGKILLs the server, as a crash or a pulled cable would: no cleanup on its side. */
  kill(): Promise<void>
  /** Starts the server again on the same port and data folder (after `kill`). */
  restart(): Promise<void>
  /** Stops the server and removes its folder; safe to call twice. */
  stop(): Promise<void>
}

const require = createRequire(import.meta.url)

function binPath(): string | undefined {
  try {
    return join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js')
  } catch {
    return undefined
  }
}

/**
 * True when s3rver is installed (a dev dependency). When it is not: throws if CI=true, else
 * warns loudly and returns false, for `describe.runIf()`.
 */
export function requireS3rver(): boolean {
  const bin = binPath()
  if (bin && existsSync(bin)) return true
  const why = 'S3 tests need the s3rver dev dependency (npm install)'
  if (process.env.CI === 'true') throw new Error(`${why}; a missing service fails in CI.`)
  console.warn(`\n!!! SKIPPING S3 tests: ${why}.\n`)
  return false
}

/**
 * Starts s3rver's own CLI in a child process (so a test can kill it like a crashed server) on
 * 127.0.0.1, a port the OS picks, and a fresh data folder holding `buckets`.
 */
export async function startS3rver(
  opts: { buckets?: string[]; tls?: boolean } = {},
): Promise<S3rverServer> {
  const dir = mkdtempSync(join(tmpdir(), 'panel-s3rver-'))
  const data = join(dir, 'data')
  mkdirSync(data)
  let child: ChildProcess | undefined
  let port = 0
  const cert = opts.tls ? selfSigned(dir) : undefined

  const launch = async (wanted: number) => {
    // s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 only has as legacy.
    const args = [
      '--openssl-legacy-provider',
      binPath()!,
      '-d',
      data,
      '-a',
      '127.0.0.1',
      '-p',
      String(wanted),
      '--silent',
    ]
    if (cert) args.push('--key', join(dir, 'key.pem'), '--cert', cert.path)
    child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    port = await listening(child)
  }
  const halt = async (signal: NodeJS.Signals) => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve))
      child.kill(signal)
      await exited
    }
  }
  const server: S3rverServer = {
    host: '127.0.0.1',
    get port() {
      return port
    },
    get endpoint() {
      return `127.0.0.1:${port}`
    },
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    dir: data,
    cert,
    openUploads(bucket) {
      const uploads = join(data, bucket, '._S3rver_uploads')
      return existsSync(uploads) ? readdirSync(uploads).length : 0
    },
    createBucket: (name) => mkdirSync(join(data, name), { recursive: true }),
    kill: () => halt('SIGKILL'),
    restart: () => launch(port),
    async stop() {
      await halt('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    for (const name of opts.buckets ?? []) server.createBucket(name)
    await launch(0)
  } catch (err) {
    await server.stop()
    throw err
  }
  return server
}

/** Resolves the port from s3rver's "listening on 127.0.0.1:<port>" line; rejects on exit. */
function listening(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`s3rver did not start within 20 s:\n${out}${err}`))
    }, 20_000)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /listening on [^\s:]+:(\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`s3rver exited (${code ?? signal}) before listening:\n${out}${err}`))
    })
  })
}

/** A certificate for localhost and 127.0.0.1 that is its own CA (openssl, 1 day). */
function selfSigned(dir: string): { pem: string; path: string } {
  const path = join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      path,
    ],
    { stdio: 'ignore' },
  )
  return { pem: readFileSync(path, 'utf8'), path }
}

/** A loopback HTTP proxy in front of a server, recording what passes and able to hold traffic. */
export type Recorder = {
  port: number
  /** `127.0.0.1:<port>`, for an Endpoint field. */
  endpoint: string
  /** TCP connections accepted so far. */
  connections: number
  /** `METHOD /path?query` of every request forwarded, in order. */
  requests: string[]
  /** The same requests with their headers. */
  seen: { line: string; headers: IncomingHttpHeaders }[]
  /** Requests forwarded whose answer has not finished yet. */
  inFlight(): string[]
  /** Stops forwarding new requests (they wait) until `release`. */
  hold(): void
  release(): void
  close(): Promise<void>
}

/**
 * Starts a proxy on 127.0.0.1 to `127.0.0.1:<target()>`. When the target is down, the client's
 * connection is dropped, as it would be by the server itself.
 */
export async function startRecorder(target: () => number): Promise<Recorder> {
  const active = new Set<string>()
  const waiting: (() => void)[] = []
  let held = false
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const line = `${req.method} ${req.url}`
    rec.requests.push(line)
    rec.seen.push({ line, headers: req.headers })
    const id = `${rec.requests.length}:${line}`
    active.add(id)
    res.once('close', () => active.delete(id))
    const up = request(
      {
        host: '127.0.0.1',
        port: target(),
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders)
        answer.pipe(res)
        answer.once('error', () => res.destroy())
        answer.once('aborted', () => res.destroy())
      },
    )
    up.once('error', () => {
      active.delete(id)
      req.socket.destroy()
    })
    req.pipe(up)
  }
  const server = createServer((req, res) =>
    held ? waiting.push(() => forward(req, res)) : forward(req, res),
  )
  server.on('connection', () => rec.connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const rec: Recorder = {
    port,
    endpoint: `127.0.0.1:${port}`,
    connections: 0,
    requests: [],
    seen: [],
    inFlight: () => [...active].map((id) => id.slice(id.indexOf(':') + 1)),
    hold: () => (held = true),
    release() {
      held = false
      for (const go of waiting.splice(0)) go()
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
  return rec
}
