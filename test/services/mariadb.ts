import { spawn, type ChildProcess } from 'node:child_process'
import { chownSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DbConn } from '../../src/db/tenants.ts'
import { freePort, stopProcess, systemUser, waitReady, which } from './process.ts'

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
