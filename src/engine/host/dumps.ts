import { accessSync, constants, statSync } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { ConflictError } from '../../errors.ts'
import {
  DEFAULT_PATH,
  pinned,
  runTool,
  withCredentials,
  type Creds,
  type Tool,
  type ToolOptions,
} from './db-tools.ts'
import type { DbConn } from '../../db/tenants.ts'
import { DATABASE_NAME } from '../../names.ts'

export type { RunAs, ToolOptions } from './db-tools.ts'

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
    // SCHEMATA lists only the databases the user may see: a hidden taken name still makes
    // CREATE fail, and a failed CREATE is never dropped.
    exists: (db: string, via: string) => [
      '--batch',
      '--skip-column-names',
      '-e',
      `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${db}'`,
      via,
    ],
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
    drop: (db: string) => [
      ...PSQL,
      ...['-q', '--dbname=postgres', '-c'],
      `DROP DATABASE IF EXISTS "${db}"`,
    ],
    exists: (db: string, via: string) => [
      ...PSQL,
      ...['-A', '-t', '-c'],
      `SELECT count(*) FROM pg_catalog.pg_database WHERE datname = '${db}'`,
      `--dbname=${via}`,
    ],
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
 * via the maintenance database `postgres`), throwing a ConflictError if it already exists and
 * CreateDenied if the user may not create it.
 * PostgreSQL loads in one transaction; MariaDB runs with --binary-mode, which also disables
 * client commands such as `\!`. psql still honours its meta-commands, so a dump that is not the
 * panel's own must be loaded with `runAs` set.
 */
export async function loadDump(
  conn: DbConn,
  input: string | NodeJS.ReadableStream,
  opts: ToolOptions & { create: boolean; onCreated?: () => void },
): Promise<void> {
  try {
    const tool = findTool(conn, 'client')
    await withCredentials(conn, opts, async (creds) => {
      if (opts.create) {
        await createDatabase(conn, tool, creds, opts)
        opts.onCreated?.()
      }
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
 * the scratch databases a verified restore loads dumps into and for a database a restore has just
 * created itself; never call it with a tenant's own.
 */
export async function dropDatabase(conn: DbConn, opts: ToolOptions): Promise<void> {
  const tool = findTool(conn, 'client')
  await withCredentials(conn, opts, (creds) =>
    runTool(tool, creds, ENGINES[conn.engine].drop(conn.name), opts, {}),
  )
}

/**
 * True when a database called `name` exists on the server of `conn`, asked as `conn`'s user
 * through `conn.name` (a database that user can reach). MariaDB shows a user only the databases
 * it has rights on, so false there means "not visible", and CREATE still has the last word.
 */
export async function databaseExists(
  conn: DbConn,
  name: string,
  opts: ToolOptions,
): Promise<boolean> {
  checkName(name)
  const tool = findTool(conn, 'client')
  const args = ENGINES[conn.engine].exists(name, conn.name)
  const out = await withCredentials(conn, opts, (creds) => runTool(tool, creds, args, opts, {}))
  if (!/^\d+$/.test(out.trim())) {
    throw new Error(`${tool.label} printed "${out.trim().slice(0, 80)}" instead of a count`)
  }
  return Number(out.trim()) > 0
}

/** CREATE DATABASE was refused for lack of rights (MariaDB 1044/1227, PostgreSQL 42501). */
export class CreateDenied extends Error {
  readonly permanent = true
  constructor(
    message: string,
    readonly database: string,
    /** MariaDB's account as the server named it (`'user'@'host'`), when it did. */
    readonly account: string | null,
  ) {
    super(message)
  }
}

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
    const message = (err as Error).message
    if (/\bERROR (1044|1227)\b|\b42501:/.test(message)) {
      const account = message.match(/for user ('[^']*'@'[^']*')/)?.[1] ?? null
      throw new CreateDenied(message, conn.name, account)
    }
    throw err
  }
}

function checkName(name: string): void {
  if (!DATABASE_NAME.test(name)) {
    throw new Error(`"${name}" is not a valid database name: use 1-64 letters, digits, _, $ and -.`)
  }
}

/** Checks the name (before any use) and finds the program on PATH. */
function findTool(conn: DbConn, kind: 'dumper' | 'client'): Tool {
  checkName(conn.name)
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
