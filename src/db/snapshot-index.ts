import { eq, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction } from './tx.ts'
import { snapshotFiles, snapshots } from './schema.ts'
import type { IndexedNode } from './snapshots.ts'

/** Rows per transaction: one step blocks the event loop for a few milliseconds only. */
const STEP = 250

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Replaces the file index of a snapshot row (and its file count) in small transactions with a
 * turn of the event loop between them, so pages served by the same process keep answering
 * while a large index is written (one transaction for 20,000 files blocked ~0.8 s). Readers
 * see no half-written index: `indexedAt` is cleared first and set only by the last step.
 */
export async function saveIndexInSteps(
  db: Db,
  rowId: number,
  nodes: IndexedNode[],
  totals: { files: number; bytes: number },
): Promise<void> {
  await transaction(db, async (tx) => {
    await tx.update(snapshots).set({ indexedAt: null }).where(eq(snapshots.id, rowId))
    await tx.delete(snapshotFiles).where(eq(snapshotFiles.snapshotRowId, rowId))
  })
  for (let i = 0; i < nodes.length; i += STEP) {
    await turn()
    const rows = nodes.slice(i, i + STEP).map((n) => ({ snapshotRowId: rowId, ...n }))
    await db.insert(snapshotFiles).values(rows).onConflictDoNothing()
  }
  const now = new Date()
  await db
    .update(snapshots)
    .set({
      indexedAt: now,
      indexUsedAt: now,
      files: totals.files,
      bytes: sql`coalesce(${snapshots.bytes}, ${totals.bytes})`,
    })
    .where(eq(snapshots.id, rowId))
}
