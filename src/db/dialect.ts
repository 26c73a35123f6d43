import { AsyncLocalStorage } from 'node:async_hooks'
import { sql, type SQL } from 'drizzle-orm'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import type { Pool } from 'pg'
import type * as schema from './schema-pg.ts'
import type { Db } from './client.ts'

export type PgDb = NodePgDatabase<typeof schema>

/** What a PostgreSQL-backed Db carries besides the drizzle API: its pool and the unwrapped db. */
export type PgHandle = { base: PgDb; pool: Pool; url: string }

const HANDLE = Symbol('postgres')
/** The transaction the current async context runs in, if any. */
const currentTx = new AsyncLocalStorage<PgDb>()

/**
 * The Db the query modules get on PostgreSQL: drizzle's, except that inside a transaction() every
 * query of that async context goes to the transaction's connection, whichever Db it was called on.
 */
export function wrap(handle: PgHandle): Db {
  return new Proxy(handle.base, {
    get(target, prop) {
      if (prop === HANDLE) return handle
      const source = currentTx.getStore() ?? target
      const value = Reflect.get(source, prop, source)
      return typeof value === 'function' ? value.bind(source) : value
    },
  }) as unknown as Db
}

/** The PostgreSQL side of a Db, or undefined on SQLite. */
export function pgHandle(db: Db): PgHandle | undefined {
  return (db as unknown as Record<symbol, PgHandle | undefined>)[HANDLE]
}

export function isPostgres(db: Db): boolean {
  return pgHandle(db) !== undefined
}

/** The advisory lock key that serializes the panel's transactions ("panel" in ASCII). */
const SERIAL_LOCK = 0x70616e656c

/**
 * One PostgreSQL transaction around `fn`; nested calls become savepoints. `serialize` (the
 * default) first takes one transaction-wide advisory lock shared by all panel processes, so the
 * panel's transactions run one at a time, as with SQLite's BEGIN IMMEDIATE; the job claim passes
 * false and relies on `FOR UPDATE SKIP LOCKED` instead.
 */
export async function pgTransaction<T>(
  db: Db,
  fn: (tx: Db) => Promise<T>,
  serialize = true,
): Promise<T> {
  const handle = pgHandle(db)!
  const outer = currentTx.getStore()
  const on = outer ?? handle.base
  return on.transaction(async (tx) => {
    if (serialize && !outer) await tx.execute(sql`select pg_advisory_xact_lock(${SERIAL_LOCK})`)
    return currentTx.run(tx as unknown as PgDb, () => fn(db))
  })
}

/** The rows of a raw query, on either engine (`sql` placeholders are the driver's own). */
export async function rows<T>(db: Db, query: SQL): Promise<T[]> {
  // Through the Db itself, so that inside a transaction() the query runs in it.
  if (pgHandle(db)) return (await (db as unknown as PgDb).execute(query)).rows as T[]
  return db.all(query) as T[]
}

/** Closes a PostgreSQL pool so the process may exit; nothing on SQLite. */
export async function closePostgres(db: Db): Promise<void> {
  const pool = pgHandle(db)?.pool
  if (pool && !pool.ended) await pool.end()
}

/** A text field of a JSON column, as SQL for either engine (`key` is a constant, never input). */
export function jsonText(db: Db, column: unknown, key: string): SQL {
  return isPostgres(db)
    ? sql`(${column} ->> ${sql.raw(`'${key}'`)})`
    : sql`json_extract(${column}, ${sql.raw(`'$.${key}'`)})`
}
