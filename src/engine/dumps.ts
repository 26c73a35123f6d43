import { spawn, type StdioOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, statSync } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ConflictError } from '../errors.ts'
import type { RunAs } from './isolation.ts'

/** A tenant database and how to reach it; null host means the local default socket. */
export type DbConn = {
  engine: 'mariadb' | 'postgresql'
  name: string
  host: string | null
  port: number | null
  username: string | null
  password: string | null
}

/** The system user the dump tools run as (the tenant's), or null for the panel's own user. */
export type { RunAs }

/**
 * Options shared by every call. `workDir` must exist, be writable by the panel and searchable by
 * `runAs`: the credentials file (0600, random name, owned by `runAs`) lives there only while the
 * tool runs.
 */
export type ToolOptions = { workDir: string; runAs: RunAs; signal?: AbortSignal }

// Same rule as databaseNameProblem() in domain/tenants.ts: names reach SQL text and argv, so no
// quotes, dots, slashes, spaces, '=' or a leading '-'.
const DB_NAME = /^[A-Za-z0-9_][A-Za-z0-9_$-]{0,63}$/
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin'
const MARIADB_DUMP =
  '--single-transaction --routines --triggers --events --hex-blob --no-tablespaces'.split(' ')
// -w: never prompt for a password (it would wait on a terminal).
const PG_DUMP = '-w --no-owner --no-privileges --clean --if-exists'.split(' ')
// psql: no ~/.psqlrc, no password prompt, stop at the first error.
const PSQL = ['-X', '-w', '-v', 'ON_ERROR_STOP=1']

/** Each engine's programs (first found on PATH wins) and argv after the credentials. */
const ENGINES = {
  mariadb: {
    pkg: 'mariadb-client',
    dumper: ['mariadb-dump', 'mysqldump'],
    client: ['mariadb', 'mysql'],
    dump: (db: string) => [...MARIADB_DUMP, db],
    load: (db: string) => ['--binary-mode', db],
    create: (db: string) => ['--batch', '-e', `CREATE DATABASE \`${db}\``],
    drop: (db: string) => ['--batch', '-e', `DROP DATABASE IF EXISTS \`${db}\``],
    count: (db: string) => [
      '--batch',
      '--skip-column-names',
      '-e',
      `SELECT COUNT(*) FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`,
      db,
    ],
  },
  postgresql: {
    pkg: 'postgresql-client',
    dumper: ['pg_dump'],
    client: ['psql'],
    dump: (db: string) => [...PG_DUMP, `--dbname=${db}`],
    load: (db: string) => [...PSQL, '-q', '--single-transaction', `--dbname=${db}`],
    // VERBOSITY=verbose prints the SQLSTATE that tells "already exists" apart.
    create: (db: string) => [
      ...PSQL,
      ...['-q', '-v', 'VERBOSITY=verbose', '--dbname=postgres', '-c'],
      `CREATE DATABASE "${db}" TEMPLATE template0`,
    ],
    drop: (db: string) => [...PSQL, ...['-q', '--dbname=postgres', '-c'], `DROP DATABASE IF EXISTS "${db}"`],
    count: (db: string) => [
      ...PSQL,
      ...['-A', '-t', '-c'],
      `SELECT count(*) FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%'`,
      `--dbname=${db}`,
    ],
  },
}

/**
 * Dumps one database to `outFile` as SQL text. MariaDB: mariadb-dump (or mysqldump)
 * --single-transaction --routines --triggers --events --hex-blob; PostgreSQL: pg_dump --no-owner
 * --no-privileges --clean --if-exists, so the dump restores over an existing database. Neither
 * dump names the database, so it loads into any name. `outFile` is replaced (a symlink there, or
 * as its directory, is never followed), created 0600 and owned by `runAs`; it is removed when the
 * dump fails or `signal` aborts (rejecting with an AbortError).
 */
export async function dumpDatabase(
  conn: DbConn,
  outFile: string,
  opts: ToolOptions,
): Promise<{ bytes: number }> {
  const tool = findTool(conn, 'dumper')
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
  return withCredentials(conn, opts, (creds) =>
    pinned(outFile, async (path) => {
      await rm(path, { force: true })
      const out = await open(path, flags, 0o600)
      let done = false
      try {
        if (opts.runAs) await out.chown(opts.runAs.uid, opts.runAs.gid)
        await runTool(tool, creds, ENGINES[conn.engine].dump(conn.name), opts, { stdout: out.fd })
        const { size } = await out.stat()
        done = true
        return { bytes: size }
      } finally {
        await out.close()
        if (!done) await rm(path, { force: true })
      }
    }),
  )
}

/**
 * Loads a dump into `conn.name`: a file path (no symlink followed) or a stream, which is always
 * consumed or destroyed. With `create`, first runs CREATE DATABASE (PostgreSQL: from template0,
 * via the maintenance database `postgres`), throwing a ConflictError if it already exists.
 * PostgreSQL loads in one transaction; MariaDB runs with --binary-mode, which also disables
 * client commands such as `\!`. psql still honours its meta-commands, so a dump that is not the
 * panel's own must be loaded with `runAs` set.
 */
export async function loadDump(
  conn: DbConn,
  input: string | NodeJS.ReadableStream,
  opts: ToolOptions & { create: boolean },
): Promise<void> {
  try {
    const tool = findTool(conn, 'client')
    await withCredentials(conn, opts, async (creds) => {
      if (opts.create) await createDatabase(conn, tool, creds, opts)
      const file =
        typeof input === 'string'
          ? await pinned(input, (path) => open(path, constants.O_RDONLY | constants.O_NOFOLLOW))
          : null
      try {
        const stdin = file ? file.fd : (input as NodeJS.ReadableStream)
        await runTool(tool, creds, ENGINES[conn.engine].load(conn.name), opts, { stdin })
      } finally {
        await file?.close()
      }
    })
  } catch (err) {
    // Nobody else will read it, and a producer such as `restic dump` would block on a full pipe.
    if (typeof input !== 'string' && 'destroy' in input) (input as Readable).destroy()
    throw err
  }
}

/** Number of base tables in the database (PostgreSQL: in all non-system schemas). */
export async function countTables(conn: DbConn, opts: ToolOptions): Promise<number> {
  const tool = findTool(conn, 'client')
  const args = ENGINES[conn.engine].count(conn.name)
  const out = await withCredentials(conn, opts, (creds) => runTool(tool, creds, args, opts, {}))
  const count = Number(out.trim())
  if (!out.trim() || !Number.isInteger(count)) {
    throw new Error(`${tool.label} printed "${out.trim().slice(0, 80)}" instead of a table count`)
  }
  return count
}

/**
 * Drops `conn.name` if it exists (PostgreSQL: via the maintenance database `postgres`). Used for
 * the scratch databases a verified restore loads dumps into; never call it with a tenant's own.
 */
export async function dropDatabase(conn: DbConn, opts: ToolOptions): Promise<void> {
  const tool = findTool(conn, 'client')
  await withCredentials(conn, opts, (creds) => runTool(tool, creds, ENGINES[conn.engine].drop(conn.name), opts, {}))
}

type Tool = { path: string; label: string }
/** How the tool gets the connection: leading args, environment, and the secret to scrub. */
type Creds = { args: string[]; env: Record<string, string>; secret: string | null }

async function createDatabase(conn: DbConn, tool: Tool, creds: Creds, opts: ToolOptions) {
  try {
    await runTool(tool, creds, ENGINES[conn.engine].create(conn.name), opts, {})
  } catch (err) {
    // ER_DB_CREATE_EXISTS and SQLSTATE duplicate_database, as server messages may be localized.
    if (/\bERROR 1007\b|\b42P04:/.test((err as Error).message)) {
      throw new ConflictError(
        `Database "${conn.name}" already exists; restore into a new name or without creating it.`,
      )
    }
    throw err
  }
}

/** Checks the name (before any use) and finds the program on PATH. */
function findTool(conn: DbConn, kind: 'dumper' | 'client'): Tool {
  if (!DB_NAME.test(conn.name)) {
    throw new Error(
      `"${conn.name}" is not a valid database name: use 1-64 letters, digits, _, $ and -.`,
    )
  }
  const names = ENGINES[conn.engine][kind]
  const dirs = (process.env.PATH || DEFAULT_PATH).split(':').filter(Boolean)
  for (const name of names) {
    for (const dir of dirs) {
      const path = join(dir, name)
      try {
        accessSync(path, constants.X_OK)
        if (statSync(path).isFile()) return { path, label: name }
      } catch {
        // not in this directory
      }
    }
  }
  throw new Error(`${names[0]} is not installed (apt-get install ${ENGINES[conn.engine].pkg})`)
}

/**
 * Runs `fn` with a path to `path` that cannot be redirected: the directory is opened without
 * following a symlink and the file is reached through /proc/self/fd (Linux), so a tenant who
 * owns the directory's parent cannot swap it for a link to where only root may write.
 */
async function pinned<T>(path: string, fn: (pinnedPath: string) => Promise<T>): Promise<T> {
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW
  const dir = await open(dirname(path), flags).catch((err: Error) => {
    throw new Error(`${dirname(path)} is missing, a symlink or not a directory.`, { cause: err })
  })
  try {
    return await fn(`/proc/self/fd/${dir.fd}/${basename(path)}`)
  } finally {
    await dir.close()
  }
}

/**
 * Runs `fn` with the connection in a 0600 file in `workDir` (MariaDB option file, given as the
 * first argument; PostgreSQL password file) plus environment, never argv. The file always goes.
 */
async function withCredentials<T>(
  conn: DbConn,
  opts: ToolOptions,
  fn: (creds: Creds) => Promise<T>,
): Promise<T> {
  opts.signal?.throwIfAborted()
  if (conn.port !== null && !(Number.isInteger(conn.port) && conn.port > 0 && conn.port < 65536)) {
    throw new Error(`${conn.port} is not a valid port number.`)
  }
  const file = join(opts.workDir, `.panel-creds-${randomBytes(12).toString('hex')}`)
  // No ~/.my.cnf, ~/.pgpass or ~/.psqlrc of root or the tenant; untranslated client messages.
  const env: Record<string, string> = {
    PATH: process.env.PATH || DEFAULT_PATH,
    HOME: '/nonexistent',
    LC_ALL: 'C',
  }
  let creds: Creds = { args: [`--defaults-extra-file=${file}`], env, secret: conn.password }
  if (conn.engine === 'postgresql') {
    creds = { args: [], env: { ...env, ...pgEnv(conn), PGPASSFILE: file }, secret: conn.password }
  }
  const text = conn.engine === 'mariadb' ? myCnf(conn) : pgpass(conn.password)
  const handle = await open(file, 'wx', 0o600)
  try {
    try {
      if (opts.runAs) await handle.chown(opts.runAs.uid, opts.runAs.gid)
      await handle.writeFile(text)
    } finally {
      await handle.close()
    }
    return await fn(creds)
  } finally {
    await rm(file, { force: true })
  }
}

function pgEnv(conn: DbConn): Record<string, string> {
  const env: Record<string, string> = { PGCONNECT_TIMEOUT: '30', PGAPPNAME: 'panel-backups' }
  if (conn.host !== null) env.PGHOST = conn.host
  if (conn.port !== null) env.PGPORT = String(conn.port)
  if (conn.username !== null) env.PGUSER = conn.username
  return env
}

function myCnf(conn: DbConn): string {
  // Double quotes keep '#' and edge spaces; these are the escapes option files understand.
  const escapes: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b' }
  const quote = (v: string) => `"${v.replace(/[\\"\n\r\t\b]/g, (c) => escapes[c] ?? `\\${c}`)}"`
  const lines = ['[client]']
  if (conn.username !== null) lines.push(`user=${quote(conn.username)}`)
  if (conn.password !== null) lines.push(`password=${quote(conn.password)}`)
  if (conn.host !== null) lines.push(`host=${quote(conn.host)}`)
  if (conn.host !== null && conn.port !== null) lines.push(`port=${conn.port}`)
  return lines.join('\n') + '\n'
}

function pgpass(password: string | null): string {
  if (password === null) return ''
  if (/[\n\r]/.test(password)) throw new Error('A PostgreSQL password cannot contain a line break.')
  return `*:*:*:*:${password.replace(/[\\:]/g, (c) => `\\${c}`)}\n`
}

type Stdio = { stdin?: number | NodeJS.ReadableStream; stdout?: number }

/**
 * Spawns the tool (argv array, no shell) and resolves with its stdout, unless `stdio.stdout` is a
 * file descriptor. Rejects with the last error line of stderr, the password scrubbed.
 */
function runTool(tool: Tool, creds: Creds, args: string[], opts: ToolOptions, stdio: Stdio) {
  return new Promise<string>((resolve, reject) => {
    const stream = typeof stdio.stdin === 'object' ? stdio.stdin : null
    const stdin = typeof stdio.stdin === 'number' ? stdio.stdin : stream ? 'pipe' : 'ignore'
    const io: StdioOptions = [stdin, stdio.stdout ?? 'pipe', 'pipe']
    const child = spawn(tool.path, [...creds.args, ...args], {
      cwd: '/',
      env: creds.env,
      signal: opts.signal,
      ...(opts.runAs ?? {}),
      stdio: io,
    })
    let out = ''
    let err = ''
    let failure: Error | undefined
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-16384)))
    if (stream && child.stdin) {
      stream.once('error', (e: Error) => {
        failure ??= new Error(`Reading the dump failed: ${e.message}`, { cause: e })
        child.kill()
      })
      // The tool exiting early breaks this pipe; its exit status says why.
      pipeline(stream, child.stdin).catch(() => {})
    }
    child.once('error', (e) => {
      if (child.pid === undefined) reject(new Error(`${tool.label} could not start: ${e.message}`))
      else failure ??= e // an AbortError: wait for the exit so files are not removed under the tool
    })
    child.once('close', (code, signal) => {
      if (failure) return reject(failure)
      if (code === 0) return resolve(out)
      const why =
        lastErrorLine(err, tool.label) || (signal ? `killed by ${signal}` : `exit code ${code}`)
      const secret = creds.secret
      reject(new Error(`${tool.label} failed: ${secret ? why.split(secret).join('***') : why}`))
    })
  })
}

/** The line that says what went wrong: tools print context (LINE 1:, LOCATION:) after it. */
function lastErrorLine(stderr: string, label: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
  const line =
    [...lines].reverse().find((l) => /\b(ERROR|FATAL|PANIC|error)\b/.test(l)) ?? lines.at(-1) ?? ''
  return line.replace(new RegExp(`^${label}: (error: )?`), '')
}
