import { spawn, type ChildProcess } from 'node:child_process'
import {
  accessSync,
  chownSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DbConn } from '../../src/engine/dumps.ts'

/** A throwaway MariaDB server on loopback, one per test file. */
export type MariaDbServer = {
  host: '127.0.0.1'
  port: number
  /** root over TCP, without a password (--auth-root-authentication-method=normal). */
  admin: DbConn
  /** Runs SQL as root over the socket (text on stdin, not argv); tab-separated rows, no header. */
  sql(query: string, database?: string): Promise<string>
  /** Creates the database and `user`@'%' (if new) with the password and ALL on the database. */
  createDatabase(name: string, user: string, password: string): Promise<void>
  /** Stops the server and removes its directory; safe to call twice. */
  stop(): Promise<void>
}

const BINARIES = ['mariadbd', 'mariadb-install-db', 'mariadb']

/**
 * True when the MariaDB binaries are installed. When they are not: throws if CI=true (a missing
 * service is a failure there), else warns loudly and returns false, for `describe.runIf()`.
 */
export function requireMariaDb(): boolean {
  const missing = BINARIES.filter((b) => !which(b))
  if (missing.length === 0) return true
  const install = 'apt-get install mariadb-server mariadb-client'
  const why = `MariaDB tests need ${missing.join(', ')} (${install})`
  if (process.env.CI === 'true') throw new Error(`${why}; a missing service fails in CI.`)
  console.warn(`\n!!! SKIPPING MariaDB tests: ${why}.\n`)
  return false
}

/**
 * Starts mariadbd on 127.0.0.1 and a random free port with a fresh data directory (about 1.5 s,
 * most of it mariadb-install-db). As root the server runs as the `mysql` user.
 */
export async function startMariaDb(): Promise<MariaDbServer> {
  const dir = mkdtempSync(join(tmpdir(), 'panel-mariadb-'))
  const asRoot = process.getuid?.() === 0
  if (asRoot) chownSync(dir, systemUser('mysql').uid, systemUser('mysql').gid)
  const socket = join(dir, 'sock')
  const user = asRoot ? ['--user=mysql'] : []
  const client = which('mariadb')!
  const common = [
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=8M',
    '--skip-name-resolve',
  ]
  const datadir = `--datadir=${join(dir, 'data')}`
  let server: ChildProcess | undefined
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      await stopProcess(server, 'SIGTERM')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const sql = (query: string, database?: string) =>
    run(
      client,
      ['--no-defaults', `--socket=${socket}`, '-uroot', '--batch', '--skip-column-names']
        .concat(['--default-character-set=utf8mb4'])
        .concat(database ? [database] : []),
      query,
    )
  try {
    await run(which('mariadb-install-db')!, [
      '--no-defaults',
      ...user,
      datadir,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...common,
    ])
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const log = openSync(join(dir, 'server.log'), 'a')
      server = spawn(
        which('mariadbd')!,
        [
          '--no-defaults',
          ...user,
          datadir,
          `--socket=${socket}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--pid-file=${join(dir, 'pid')}`,
          '--innodb-doublewrite=0',
          '--innodb-flush-log-at-trx-commit=0',
          ...common,
        ],
        { stdio: ['ignore', log, log] },
      )
      closeSync(log)
      if (!(await waitReady(server, () => sql('SELECT 1')))) {
        if (attempt < 3) continue // most likely the port was taken meanwhile
        throw new Error(`mariadbd did not start:\n${readFileSync(join(dir, 'server.log'), 'utf8')}`)
      }
      const admin: DbConn = {
        engine: 'mariadb',
        name: 'mysql',
        host: '127.0.0.1',
        port,
        username: 'root',
        password: null,
      }
      const createDatabase = async (name: string, dbUser: string, password: string) => {
        const account = `'${dbUser.replace(/'/g, "''")}'@'%'`
        const literal = `'${password.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
        const db = `\`${name.replace(/`/g, '``')}\``
        await sql(`CREATE DATABASE ${db};
          CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${literal};
          GRANT ALL ON ${db}.* TO ${account};`)
      }
      return { host: '127.0.0.1', port, admin, sql, createDatabase, stop }
    }
  } catch (err) {
    await stop()
    throw err
  }
}

function which(name: string): string | undefined {
  const dirs = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`.split(':').filter(Boolean)
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`))
  if (!line) throw new Error(`There is no "${name}" system user to run the server as.`)
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Polls `probe` until it succeeds (true) or the server exits or 30 s pass (false). */
async function waitReady(server: ChildProcess, probe: () => Promise<unknown>): Promise<boolean> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && server.exitCode === null && server.signalCode === null) {
    try {
      await probe()
      return true
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  if (server.exitCode === null) server.kill('SIGKILL')
  return false
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/** Runs a command (no shell) with `input` on stdin; resolves stdout, rejects with stderr. */
function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdin.on('error', () => {}) // a tool that exits early; its status says why
    child.stdin.end(input ?? '')
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err.trim()}`)),
    )
  })
}
