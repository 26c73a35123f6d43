import { and, asc, eq, isNull, lt, ne } from 'drizzle-orm'
import type { Db } from './client.ts'
import { runnerHeartbeats } from './schema.ts'

export type RunnerHeartbeat = typeof runnerHeartbeats.$inferSelect

/** A runner whose last heartbeat is older than this counts as gone (crashed or hung). */
export const HEARTBEAT_STALE_MS = 2 * 60_000

/** Records that runner `row.id` is alive at `row.lastSeen` (insert or update). */
export async function saveHeartbeat(
  db: Db,
  row: Omit<RunnerHeartbeat, 'node'> & { node?: string | null },
): Promise<void> {
  await db
    .insert(runnerHeartbeats)
    .values(row)
    .onConflictDoUpdate({
      target: runnerHeartbeats.id,
      set: { lastSeen: row.lastSeen, concurrency: row.concurrency, node: row.node ?? null },
    })
}

/** Removes a runner's row; a runner calls it when it stops cleanly. */
export async function removeHeartbeat(db: Db, id: string): Promise<void> {
  await db.delete(runnerHeartbeats).where(eq(runnerHeartbeats.id, id))
}

/**
 * Removes the stale rows of other runner processes of `node` on `host`: a runner starting on a
 * host replaces the crashed one before it, so a restart clears the alarm its crash raised.
 */
export async function forgetStaleOnHost(
  db: Db,
  host: string,
  node: string | null,
  id: string,
  now = new Date(),
): Promise<void> {
  await db
    .delete(runnerHeartbeats)
    .where(
      and(
        eq(runnerHeartbeats.host, host),
        node === null ? isNull(runnerHeartbeats.node) : eq(runnerHeartbeats.node, node),
        ne(runnerHeartbeats.id, id),
        lt(runnerHeartbeats.lastSeen, new Date(now.getTime() - HEARTBEAT_STALE_MS)),
      ),
    )
}

/** Every recorded runner, by host then start time. */
export async function listHeartbeats(db: Db): Promise<RunnerHeartbeat[]> {
  return await db
    .select()
    .from(runnerHeartbeats)
    .orderBy(asc(runnerHeartbeats.host), asc(runnerHeartbeats.startedAt))
}

/** True when the runner has not been heard from within HEARTBEAT_STALE_MS of `now`. */
export function isStale(row: RunnerHeartbeat, now = new Date()): boolean {
  return now.getTime() - row.lastSeen.getTime() > HEARTBEAT_STALE_MS
}

/**
 * Whether a node's tenants are being backed up: `ok` while a runner of that node answers;
 * `gone` when its runners all stopped answering (`lastSeen`: the latest of them); `never` when
 * no runner of a named node was ever recorded. The panel's own server (node null) is `ok`
 * until a runner of it was seen and went silent, so a panel without runner rows (tests, a
 * fresh start) raises nothing.
 */
export type NodeState = { state: 'ok' } | { state: 'gone'; lastSeen: Date } | { state: 'never' }

export function nodeState(
  rows: RunnerHeartbeat[],
  node: string | null,
  now = new Date(),
): NodeState {
  const mine = rows.filter((r) => (r.node ?? null) === node)
  if (mine.some((r) => !isStale(r, now))) return { state: 'ok' }
  if (!mine.length) return node === null ? { state: 'ok' } : { state: 'never' }
  const lastSeen = new Date(Math.max(...mine.map((r) => r.lastSeen.getTime())))
  return { state: 'gone', lastSeen }
}
