import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, stopProcess, waitReady } from './process.ts'

const NGINX = '/usr/sbin/nginx'

/** One listener of the test nginx, proxying to `upstream` (`127.0.0.1:<port>`). */
export type NginxSite = { upstream: string; tls?: boolean }

/** A throwaway nginx on loopback: one port per site, in the order given. */
export type Nginx = { ports: number[]; dir: string; stop(): Promise<void> }

/**
 * True when nginx and openssl (for the test certificate) are installed. When they are not:
 * throws if CI=true (a missing service is a failure there), else warns loudly and returns false,
 * for `describe.runIf()`.
 */
export function requireNginx(): boolean {
  const missing = [NGINX, '/usr/bin/openssl'].filter((f) => !existsSync(f))
  if (missing.length === 0) return true
  const why = `the reverse proxy tests need nginx and openssl (apt-get install nginx openssl); missing ${missing.join(', ')}`
  if (process.env.CI === 'true') throw new Error(`${why}; a missing service fails in CI.`)
  console.warn(`\n!!! SKIPPING reverse proxy tests: ${why}.\n`)
  return false
}

/**
 * Starts nginx in the foreground with its own config, pid, logs, temp folders and a self-signed
 * certificate for `serverName` in a fresh temp directory, each site on a free 127.0.0.1 port.
 * Every site forwards as the README says (Host, X-Forwarded-For appended, X-Forwarded-Proto);
 * upstream connections leave from `bind` (a loopback address), so the panel can tell nginx
 * apart from the clients. Never the system service.
 */
export async function startNginx(
  sites: NginxSite[],
  opts: { bind: string; serverName: string },
): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'panel-nginx-'))
  for (const sub of ['tmp', 'logs']) mkdirSync(join(dir, sub))
  const cert = selfSigned(dir, opts.serverName)
  let server: ChildProcess | undefined
  let ports: number[] = []
  const conf = join(dir, 'nginx.conf')
  const siteBlock = (site: NginxSite, port: number) => [
    '  server {',
    `    listen 127.0.0.1:${port}${site.tls ? ' ssl' : ''};`,
    `    server_name ${opts.serverName};`,
    ...(site.tls
      ? [`    ssl_certificate ${cert.cert};`, `    ssl_certificate_key ${cert.key};`]
      : []),
    '    location / {',
    `      proxy_pass http://${site.upstream};`,
    `      proxy_bind ${opts.bind};`,
    '      proxy_set_header Host $host;',
    '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '      proxy_set_header X-Forwarded-Proto $scheme;',
    '      proxy_buffering off;',
    '    }',
    '  }',
  ]
  const writeConf = () =>
    writeFileSync(
      conf,
      [
        'daemon off;',
        'master_process off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'logs/error.log')} warn;`,
        'events { worker_connections 64; }',
        'http {',
        `  access_log ${join(dir, 'logs/access.log')};`,
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
          (t) => `  ${t}_temp_path ${join(dir, 'tmp', t)};`,
        ),
        ...sites.flatMap((site, i) => siteBlock(site, ports[i]!)),
        '}',
        '',
      ].join('\n'),
    )
  for (let attempt = 1; ; attempt++) {
    ports = await Promise.all(sites.map(() => freePort()))
    writeConf()
    const log = openSync(join(dir, 'logs/stderr.log'), 'a')
    server = spawn(NGINX, ['-p', dir, '-c', conf, '-e', join(dir, 'logs/error.log')], {
      stdio: ['ignore', log, log],
    })
    closeSync(log)
    if (await waitReady(server, () => Promise.all(ports.map(listening)))) break
    if (attempt < 3) continue // most likely a port was taken meanwhile
    const logs = ['stderr.log', 'error.log'].map((f) => readIfThere(join(dir, 'logs', f)))
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`nginx did not start:\n${logs.join('\n')}`)
  }
  const running = server
  return {
    ports,
    dir,
    async stop() {
      if (running.exitCode === null && running.signalCode === null) await stopProcess(running)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  const res = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    key,
    '-out',
    cert,
  ])
  if (res.status !== 0) throw new Error(`openssl could not make a certificate: ${res.stderr}`)
  return { cert, key }
}

function listening(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve()
    })
    socket.once('error', reject)
  })
}

function readIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
