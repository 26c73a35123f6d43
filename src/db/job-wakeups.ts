import { sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { pgHandle, rows } from './dialect.ts'

/** The channel runners LISTEN on (PostgreSQL): a job was queued or a running one cancelled. */
const CHANNEL = 'panel_jobs'

/**
 * Wakes every runner process at once on PostgreSQL (`NOTIFY`, delivered when the surrounding
 * transaction commits); nothing on SQLite, whose runners share a host and poll every second.
 */
export async function notifyRunners(db: Db): Promise<void> {
  if (pgHandle(db)) await rows(db, sql`select pg_notify(${CHANNEL}, '')`)
}

/**
 * On PostgreSQL: one connection of its own LISTENs and calls `wake` on every notice; resolves to
 * the function that closes it. A lost connection is logged and ends the wake-ups (the runner's
 * poll still finds every job). On SQLite: null, nothing to listen to.
 */
export async function listenForJobs(
  db: Db,
  wake: () => void,
  onError: (err: unknown) => void,
): Promise<(() => Promise<void>) | null> {
  const handle = pgHandle(db)
  if (!handle) return null
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: handle.url })
  client.on('error', onError)
  client.on('notification', () => wake())
  await client.connect()
  await client.query(`LISTEN ${CHANNEL}`)
  return async () => {
    await client.end().catch(() => {})
  }
}
