import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, chownSync, closeSync, constants, mkdtempSync, openSync } from 'node:fs'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DbConn } from '../../src/db/tenants.ts'
import { freePort, stopProcess, systemUser, waitReady } from './process.ts'

/** A throwaway PostgreSQL server on loopback, one per test file. */
export type PostgresServer = {
  host: '127.0.0.1'
  port: number
  /** The superuser `postgres` over TCP with its random password (TCP needs scram-sha-256). */
  admin: DbConn
  /** Runs SQL as `postgres` over the socket (text on stdin, not argv); `|`-separated rows. */
  sql(query: string, database?: string): Promise<string>
  /** Creates role `user` (if new) with LOGIN and the password, and the database owned by it. */
  createDatabase(name: string, user: string, password: string): Promise<void>
  /** Stops the server (fast shutdown) and removes its directory; safe to call twice. */
  stop(): Promise<void>
}

/**
 * True when initdb, postgres and psql are installed. When they are not: throws if CI=true (a
 * missing service is a failure there), else warns loudly and returns false, for `describe.runIf()`.
 */
export function requirePostgres(): boolean {
  const missing = ['initdb', 'postgres', 'psql'].filter((b) => !binary(b))
  if (missing.length === 0) return true
  const install = 'apt-get install postgresql postgresql-client'
  const why = `PostgreSQL tests need ${missing.join(', ')} (${install})`
  if (process.env.CI === 'true') throw new Error(`${why}; a missing service fails in CI.`)
  console.warn(`\n!!! SKIPPING PostgreSQL tests: ${why}.\n`)
  return false
}

/**
 * Starts postgres on 127.0.0.1 and a random free port with a fresh cluster (about 1.5 s): trust
 * on its private socket directory, scram-sha-256 over TCP. As root the server runs as `postgres`.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'panel-pg-'))
  const owner = process.getuid?.() === 0 ? systemUser('postgres') : null
  if (owner) chownSync(dir, owner.uid, owner.gid)
  const data = join(dir, 'data')
  const password = randomBytes(12).toString('hex')
  let server: ChildProcess | undefined
  let port = 0
  const psql = binary('psql')!
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      await stopProcess(server, 'SIGINT')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const sql = (query: string, database = 'postgres') =>
    run(
      psql,
      ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port)].concat([
        '-U',
        'postgres',
        '-d',
        database,
      ]),
      { input: query },
    )
  try {
    const pwfile = join(dir, 'pwfile')
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
    if (owner) chownSync(pwfile, owner.uid, owner.gid)
    await run(
      binary('initdb')!,
      ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth-local=trust']
        .concat(['--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'])
        .concat(['--no-instructions']),
      { owner, cwd: dir },
    )
    rmSync(pwfile)
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      const log = openSync(join(dir, 'server.log'), 'a')
      const settings = ['listen_addresses=127.0.0.1', 'fsync=off', 'synchronous_commit=off'].concat(
        ['full_page_writes=off', 'shared_buffers=16MB', 'max_connections=40'],
      )
      server = spawn(
        binary('postgres')!,
        ['-D', data, '-p', String(port), '-k', dir, ...settings.flatMap((s) => ['-c', s])],
        { stdio: ['ignore', log, log], cwd: dir, ...(owner ?? {}) },
      )
      closeSync(log)
      if (!(await waitReady(server, () => sql('SELECT 1')))) {
        if (attempt < 3) continue // most likely the port was taken meanwhile
        throw new Error(`postgres did not start:\n${readFileSync(join(dir, 'server.log'), 'utf8')}`)
      }
      const admin: DbConn = {
        engine: 'postgresql',
        name: 'postgres',
        host: '127.0.0.1',
        port,
        username: 'postgres',
        password,
      }
      const createDatabase = async (name: string, user: string, userPassword: string) => {
        const role = `"${user.replace(/"/g, '""')}"`
        const literal = `'${userPassword.replace(/'/g, "''")}'`
        const exists = await sql(
          `SELECT 1 FROM pg_roles WHERE rolname = '${user.replace(/'/g, "''")}'`,
        )
        if (!exists.trim()) await sql(`CREATE ROLE ${role} LOGIN PASSWORD ${literal}`)
        await sql(`CREATE DATABASE "${name.replace(/"/g, '""')}" OWNER ${role}`)
      }
      return { host: '127.0.0.1', port, admin, sql, createDatabase, stop }
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A PostgreSQL program: Debian keeps the server's in /usr/lib/postgresql/<newest>/bin. */
function binary(name: string): string | undefined {
  let versions: string[] = []
  try {
    versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))
  } catch {
    // not Debian's layout
  }
  const dirs = [
    ...versions.map((v) => `/usr/lib/postgresql/${v}/bin`),
    ...(process.env.PATH ?? '').split(':'),
  ]
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

type RunOptions = { input?: string; owner?: { uid: number; gid: number } | null; cwd?: string }

/** Runs a command (no shell), optionally as `owner`; resolves stdout, rejects with stderr. */
function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'pipe', cwd: opts.cwd, ...(opts.owner ?? {}) })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdin.on('error', () => {}) // a tool that exits early; its status says why
    child.stdin.end(opts.input ?? '')
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err.trim()}`)),
    )
  })
}
