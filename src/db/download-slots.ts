import { and, count, eq, gt, lte } from 'drizzle-orm'
import type { Db } from './client.ts'
import { downloadSlots } from './schema.ts'
import { rowsChanged, transaction } from './tx.ts'

/** Downloads one tenant may run at once: each holds a restic, its repository lock and a bridge. */
export const DOWNLOADS_PER_TENANT = 2

/**
 * How long a slot counts after it was taken or last renewed. The serving process renews it well
 * within that while the download streams, so a process that died frees its slots within a minute.
 */
export const DOWNLOAD_LEASE_MS = 60_000

/**
 * Takes one of the tenant's DOWNLOADS_PER_TENANT download slots for `holder` (the serving
 * process, `host:pid:random`), leased until `now` + DOWNLOAD_LEASE_MS. Returns the slot's id,
 * or null when the tenant's unexpired slots are all taken, by any process on any web node.
 * One transaction, so two nodes asking at once cannot both take the last slot.
 */
export async function takeDownloadSlot(
  db: Db,
  tenantId: number,
  holder: string,
  now = new Date(),
): Promise<number | null> {
  return await transaction(db, async (tx) => {
    // Slots of processes that died: nobody renews them any more.
    await tx
      .delete(downloadSlots)
      .where(and(eq(downloadSlots.tenantId, tenantId), lte(downloadSlots.expiresAt, now)))
    const [held] = await tx
      .select({ n: count() })
      .from(downloadSlots)
      .where(and(eq(downloadSlots.tenantId, tenantId), gt(downloadSlots.expiresAt, now)))
    if ((held?.n ?? 0) >= DOWNLOADS_PER_TENANT) return null
    const [slot] = await tx
      .insert(downloadSlots)
      .values({ tenantId, holder, expiresAt: new Date(now.getTime() + DOWNLOAD_LEASE_MS) })
      .returning({ id: downloadSlots.id })
    return slot!.id
  })
}

/**
 * Extends the tenant's slot `id` to `now` + DOWNLOAD_LEASE_MS. False when the slot is gone
 * (released, or expired and taken over): the download then no longer counts against the limit.
 */
export async function renewDownloadSlot(
  db: Db,
  tenantId: number,
  id: number,
  now = new Date(),
): Promise<boolean> {
  const renewed = await db
    .update(downloadSlots)
    .set({ expiresAt: new Date(now.getTime() + DOWNLOAD_LEASE_MS) })
    .where(and(eq(downloadSlots.tenantId, tenantId), eq(downloadSlots.id, id)))
  return rowsChanged(renewed) > 0
}

/** Gives the tenant's slot `id` back; releasing a slot that is already gone resolves too. */
export async function releaseDownloadSlot(db: Db, tenantId: number, id: number): Promise<void> {
  await db
    .delete(downloadSlots)
    .where(and(eq(downloadSlots.tenantId, tenantId), eq(downloadSlots.id, id)))
}
