import { spawnSync } from 'node:child_process'
import pg from 'pg'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as schema from './schema-pg.ts'
import { useTablesOf } from './schema.ts'
import type { Db } from './client.ts'
import { pgHandle, wrap, type PgDb } from './dialect.ts'

/** The advisory lock key held while migrating ("migrate" in ASCII). */
const MIGRATION_LOCK = 0x6d696772617465

export type OpenPostgresOptions = {
  /** The drizzle/pg migrations (default: the committed folder). */
  migrationsFolder: string
  /** Where the line about pending migrations goes (default console.error). */
  log?: (line: string) => void
  /** Connections in the pool; default 10. */
  max?: number
  /** Where a pre-migration pg_dump is saved (the panel's data dir). */
  dumpDir: string
}

/**
 * Connects to PostgreSQL at `url`, switches the query modules to the PostgreSQL tables and applies
 * pending migrations, under an advisory lock so that nodes starting together migrate one after
 * another (the later ones find nothing to do). Before it migrates, it saves a `pg_dump` when the tool is there, else says to
 * take one. The returned Db runs every query inside the current transaction() when there is one.
 */
export async function openPostgres(url: string, opts: OpenPostgresOptions): Promise<Db> {
  const db = connectPostgres(url, opts.max)
  const { base, pool } = pgHandle(db)!
  const lock = await pool.connect()
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
    const pending = await pendingPgMigrations(base, opts.migrationsFolder)
    if (pending.length) (opts.log ?? console.error)(beforeMigration(url, pending[0]!, opts.dumpDir))
    await migrate(base, { migrationsFolder: opts.migrationsFolder })
  } finally {
    await lock.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {})
    lock.release()
  }
  return db
}

/**
 * The Db of an already migrated PostgreSQL database, without a round trip (connections open on
 * the first query); switches the query modules to the PostgreSQL tables.
 */
export function connectPostgres(url: string, max = 10): Db {
  useTablesOf('postgresql')
  const pool = new pg.Pool({ connectionString: url, max })
  // An idle connection the server closed must not take the process down.
  pool.on('error', (err) => console.error(`PostgreSQL: ${err.message}`))
  const base: PgDb = drizzle(pool, { schema })
  return wrap({ base, pool, url })
}

async function pendingPgMigrations(base: PgDb, folder: string): Promise<string[]> {
  const table = await base.execute<{ t: string | null }>(
    sql`select to_regclass('drizzle.__drizzle_migrations')::text as t`,
  )
  if (!table.rows[0]?.t) return [] // a new database: nothing to save
  const res = await base.execute<{ last: string | null }>(
    sql`select max(created_at)::text as last from drizzle.__drizzle_migrations`,
  )
  const row = res.rows[0]!
  const last = row.last === null ? -Infinity : Number(row.last)
  const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { tag: string; when: number }[]
  }
  return journal.entries.filter((e) => e.when > last).map((e) => e.tag)
}

/** Saves a pg_dump before a migration when the tool is installed; the line says what happened. */
function beforeMigration(url: string, tag: string, dir: string): string {
  const file = join(dir, `panel.pre-${tag}.dump`)
  // The password goes by environment, never argv.
  const target = new URL(url)
  const password = decodeURIComponent(target.password)
  target.password = ''
  const dump = spawnSync(
    'pg_dump',
    ['--format=custom', '--file', file, '--dbname', String(target)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}) },
    },
  )
  if (dump.status === 0) return `Saved a pg_dump of the database before migration ${tag}: ${file}`
  return (
    `Migration ${tag} is about to run on PostgreSQL. No pg_dump could be saved ` +
    `(${dump.error ? 'pg_dump is not installed' : dump.stderr.trim().split('\n')[0]}): ` +
    'take one now if you have no recent backup of the database.'
  )
}
