import { AsyncLocalStorage } from 'node:async_hooks'
import { sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { pgHandle, pgTransaction } from './dialect.ts'

/** Per connection: the tail of the queue of transactions waiting for it. */
const queues = new WeakMap<object, Promise<unknown>>()
/** The transaction (connection and savepoint depth) the current async context runs in. */
const current = new AsyncLocalStorage<{ client: object; depth: number }>()

/**
 * Runs `fn` in one transaction on `db`: committed when it resolves, rolled back when it throws.
 * On SQLite the transaction is `BEGIN IMMEDIATE` (it takes the write lock at once, so two
 * processes never both read and then fail to write), and transactions of one process queue for
 * the connection one after another; a transaction started inside another (same async context)
 * becomes a savepoint of it. `fn` should await only database work: other code of the process
 * may run on the connection between its awaits. On PostgreSQL see pgTransaction (`serialize`).
 */
export async function transaction<T>(
  db: Db,
  fn: (tx: Db) => Promise<T>,
  opts: { serialize?: boolean } = {},
): Promise<T> {
  if (pgHandle(db)) return pgTransaction(db, fn, opts.serialize ?? true)
  const client = db.$client
  const outer = current.getStore()
  if (outer && outer.client === client) {
    const name = `sp${outer.depth + 1}`
    db.run(sql.raw(`SAVEPOINT ${name}`))
    try {
      const result = await current.run({ client, depth: outer.depth + 1 }, () => fn(db))
      db.run(sql.raw(`RELEASE ${name}`))
      return result
    } catch (err) {
      db.run(sql.raw(`ROLLBACK TO ${name}`))
      db.run(sql.raw(`RELEASE ${name}`))
      throw err
    }
  }
  const before = queues.get(client) ?? Promise.resolve()
  let release!: () => void
  const done = new Promise<void>((r) => (release = r))
  queues.set(
    client,
    before.then(() => done),
  )
  await before
  try {
    db.run(sql`BEGIN IMMEDIATE`)
    // A body that waits for anything but the (synchronous) SQLite driver lets other code of the
    // process write inside this transaction: caught in tests, logged elsewhere.
    let crossed = false
    const tick = setImmediate(() => (crossed = true))
    try {
      const result = await current.run({ client, depth: 0 }, () => fn(db))
      if (crossed) {
        const msg = 'transaction(): the body awaited something other than the database'
        if (process.env.VITEST) throw new Error(msg)
        console.error(msg)
      }
      db.run(sql`COMMIT`)
      return result
    } catch (err) {
      if (client.inTransaction) db.run(sql`ROLLBACK`)
      throw err
    } finally {
      clearImmediate(tick)
    }
  } finally {
    release()
  }
}

/** The first row a query returns, or undefined (`.get()` that works on every engine). */
export async function first<T>(query: PromiseLike<T[]>): Promise<T | undefined> {
  return (await query)[0]
}

/** How many rows an awaited insert, update or delete changed, on either engine. */
export function rowsChanged(result: unknown): number {
  const r = result as { changes?: number; rowCount?: number | null }
  return r.changes ?? r.rowCount ?? 0
}
