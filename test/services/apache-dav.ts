import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, stopProcess, systemUser, waitReady, which } from './process.ts'

/** A throwaway Apache httpd serving WebDAV (mod_dav_fs) on loopback, one per test file. */
export type ApacheDav = {
  port: number
  /** `http://127.0.0.1:<port>/dav`: a writable WebDAV folder behind basic auth. */
  url: string
  /** `http://127.0.0.1:<port>/readonly`: readable, but every write is answered 403. */
  readonlyUrl: string
  username: string
  password: string
  /** The folder on disk behind `url` (owned by the server's user). */
  root: string
  /** Kills the server at once (SIGTERM: requests in flight are cut off); keeps the files. */
  stop(): Promise<void>
  /** Starts it again on the same port, with the same files. */
  start(): Promise<void>
  /** Stops the server and removes its directory; safe to call twice. */
  destroy(): Promise<void>
}

const HTTPD = '/usr/sbin/apache2'
const MODULES = '/usr/lib/apache2/modules'
const NEEDED = [
  'mpm_event',
  'authz_core',
  'authn_core',
  'auth_basic',
  'authn_file',
  'authz_user',
  'dav',
  'dav_fs',
  'dir',
  'mime',
  'unixd',
]

/**
 * True when Apache httpd and mod_dav are installed. When they are not: throws if CI=true (a
 * missing service is a failure there), else warns loudly and returns false, for `describe.runIf()`.
 */
export function requireApacheDav(): boolean {
  const missing = [HTTPD, join(MODULES, 'mod_dav.so'), join(MODULES, 'mod_dav_fs.so')].filter(
    (f) => !existsSync(f),
  )
  if (missing.length === 0) return true
  const why = `WebDAV tests need Apache httpd with mod_dav (apt-get install apache2); missing ${missing.join(', ')}`
  if (process.env.CI === 'true') throw new Error(`${why}; a missing service fails in CI.`)
  console.warn(`\n!!! SKIPPING WebDAV tests: ${why}.\n`)
  return false
}

/**
 * Starts Apache on 127.0.0.1 and a random free port with its own config file, pid file, lock
 * database and document root in a fresh temp directory. As root the server runs as www-data.
 */
export async function startApacheDav(
  opts: { username?: string; password?: string } = {},
): Promise<ApacheDav> {
  const username = opts.username ?? 'dav-user'
  const password = opts.password ?? 'dav-pass-' + Math.random().toString(36).slice(2)
  const dir = mkdtempSync(join(tmpdir(), 'panel-apache-dav-'))
  chmodSync(dir, 0o755) // the server's user must reach its document root and password file
  const htdocs = join(dir, 'htdocs')
  for (const sub of ['htdocs/dav', 'htdocs/readonly', 'run', 'lock'])
    mkdirSync(join(dir, sub), { recursive: true })
  const asRoot = process.getuid?.() === 0
  const owner = asRoot ? systemUser('www-data') : null
  if (owner) {
    for (const sub of ['htdocs', 'htdocs/dav', 'htdocs/readonly', 'lock'])
      chownSync(join(dir, sub), owner.uid, owner.gid)
  }
  writeFileSync(join(dir, 'htpasswd'), htpasswdLine(username, password), { mode: 0o644 })
  const conf = join(dir, 'httpd.conf')
  let port = 0
  let server: ChildProcess | undefined

  const writeConf = () =>
    writeFileSync(
      conf,
      [
        `ServerRoot "${dir}"`,
        // Debian builds some modules in (unixd); load each only when it is not already there.
        ...NEEDED.map(
          (m) =>
            `<IfModule !${m}_module>\n  LoadModule ${m}_module ${MODULES}/mod_${m}.so\n</IfModule>`,
        ),
        `Listen 127.0.0.1:${port}`,
        'ServerName 127.0.0.1',
        ...(owner ? ['User www-data', 'Group www-data'] : []),
        `PidFile "${join(dir, 'run/httpd.pid')}"`,
        `DefaultRuntimeDir "${join(dir, 'run')}"`,
        `ErrorLog "${join(dir, 'error.log')}"`,
        'LogLevel warn',
        'StartServers 1',
        'ServerLimit 2',
        'ThreadsPerChild 16',
        'MaxRequestWorkers 32',
        'MinSpareThreads 4',
        'MaxSpareThreads 16',
        'Timeout 30',
        'LimitRequestBody 0',
        'TypesConfig /etc/mime.types',
        `DavLockDB "${join(dir, 'lock/DavLock')}"`,
        `DocumentRoot "${htdocs}"`,
        `<Directory "${htdocs}">`,
        '  Dav On',
        '  Options None',
        '  AllowOverride None',
        '  AuthType Basic',
        '  AuthName "panel test"',
        `  AuthBasicProvider file`,
        `  AuthUserFile "${join(dir, 'htpasswd')}"`,
        '  Require valid-user',
        '</Directory>',
        `<Directory "${join(htdocs, 'readonly')}">`,
        '  AuthzSendForbiddenOnFailure On',
        '  <RequireAll>',
        '    Require valid-user',
        '    Require method GET HEAD OPTIONS PROPFIND',
        '  </RequireAll>',
        '</Directory>',
        '',
      ].join('\n'),
    )

  const start = async () => {
    for (let attempt = 1; ; attempt++) {
      if (!port || attempt > 1) port = await freePort()
      writeConf()
      const log = openSync(join(dir, 'stderr.log'), 'a')
      server = spawn(HTTPD, ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', log, log] })
      closeSync(log)
      if (
        await waitReady(server, () =>
          answers(port).then((up) => up || Promise.reject(new Error('not up yet'))),
        )
      )
        return
      if (attempt < 3) continue // most likely the port was taken meanwhile
      const logs = ['stderr.log', 'error.log'].map((f) => readIfThere(join(dir, f))).join('\n')
      throw new Error(`apache2 did not start:\n${logs}`)
    }
  }
  const restart = async () => {
    writeConf()
    const log = openSync(join(dir, 'stderr.log'), 'a')
    server = spawn(HTTPD, ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', log, log] })
    closeSync(log)
    if (
      !(await waitReady(server, () =>
        answers(port).then((up) => up || Promise.reject(new Error('not up yet'))),
      ))
    ) {
      throw new Error(
        `apache2 did not restart on port ${port}:\n${readIfThere(join(dir, 'error.log'))}`,
      )
    }
  }
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) await stopProcess(server)
  }
  const destroy = async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await start()
  } catch (err) {
    await destroy()
    throw err
  }
  return {
    get port() {
      return port
    },
    get url() {
      return `http://127.0.0.1:${port}/dav`
    },
    get readonlyUrl() {
      return `http://127.0.0.1:${port}/readonly`
    },
    username,
    password,
    root: join(htdocs, 'dav'),
    stop,
    start: restart,
    destroy,
  }
}

/**
 * One htpasswd line. `htpasswd -i` reads the password on stdin (never argv); without
 * apache2-utils the `{SHA}` form is written directly (fast to check: every request is verified).
 */
function htpasswdLine(user: string, password: string): string {
  if (which('htpasswd')) {
    const res = spawnSync('htpasswd', ['-i', '-n', '-s', user], {
      input: password,
      encoding: 'utf8',
    })
    if (res.status === 0 && res.stdout.startsWith(`${user}:`)) return res.stdout.trim() + '\n'
  }
  return `${user}:{SHA}${createHash('sha1').update(password).digest('base64')}\n`
}

function readIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

/** Any HTTP answer (a 401 is fine) means the server is up. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'OPTIONS', path: '/', timeout: 2000 },
      (res) => {
        res.resume()
        resolve(true)
      },
    )
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}
