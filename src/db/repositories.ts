import { and, eq } from 'drizzle-orm'
import { randomBytes } from 'node:crypto'
import type { Db } from './client.ts'
import { repositories, type Repository } from './schema.ts'
import { open, seal } from '../secret-box.ts'
import { calendarDay } from '../zoned.ts'

const context = (tenantId: number, destinationId: number) =>
  `repository:${tenantId}:${destinationId}`

/** The tenant's repository on a destination, created with a fresh random password if new. */
export async function repositoryFor(
  db: Db,
  key: Buffer,
  tenantId: number,
  destinationId: number,
): Promise<Repository> {
  const found = await findRepository(db, tenantId, destinationId)
  if (found) return found
  const password = randomBytes(24).toString('base64url')
  return (
    (
      await db
        .insert(repositories)
        .values({
          tenantId,
          destinationId,
          passwordSealed: seal(key, password, context(tenantId, destinationId)),
        })
        .onConflictDoNothing()
        .returning()
    )[0] ?? (await findRepository(db, tenantId, destinationId))!
  )
}

export async function findRepository(
  db: Db,
  tenantId: number,
  destinationId: number,
): Promise<Repository | undefined> {
  return (
    await db
      .select()
      .from(repositories)
      .where(
        and(eq(repositories.tenantId, tenantId), eq(repositories.destinationId, destinationId)),
      )
  )[0]
}

export function repositoryPassword(key: Buffer, repo: Repository): string {
  return open(key, repo.passwordSealed, context(repo.tenantId, repo.destinationId))
}

/**
 * Replaces the stored (sealed) password of a repository. Only for a password restic has just
 * been shown to accept: the panel opens the repository with this one from now on.
 */
export async function setRepositoryPassword(
  db: Db,
  key: Buffer,
  repo: Repository,
  password: string,
): Promise<void> {
  await db
    .update(repositories)
    // `restic key add` wrote the new key at restic's own scrypt cost: quickened at next open.
    .set({
      passwordSealed: seal(key, password, context(repo.tenantId, repo.destinationId)),
      quickKeyAt: null,
    })
    .where(eq(repositories.id, repo.id))
}

export async function markInitialized(db: Db, id: number): Promise<void> {
  await db.update(repositories).set({ initializedAt: new Date() }).where(eq(repositories.id, id))
}

/**
 * True when the repository was never pruned or not yet on today's calendar day in `zone` (the
 * tenant's): a backup at a fixed time prunes once a day, not every other day as "more than
 * 24 hours" would.
 */
export async function pruneDue(
  db: Db,
  id: number,
  zone: string,
  now = Date.now(),
): Promise<boolean> {
  const row = (
    await db
      .select({ prunedAt: repositories.prunedAt })
      .from(repositories)
      .where(eq(repositories.id, id))
  )[0]
  return !row?.prunedAt || calendarDay(row.prunedAt, zone) !== calendarDay(new Date(now), zone)
}

export async function markPruned(db: Db, id: number): Promise<void> {
  await db.update(repositories).set({ prunedAt: new Date() }).where(eq(repositories.id, id))
}

/** Records that the snapshot catalog was just shown to match the repository's own listing. */
export async function markCatalogSynced(db: Db, id: number): Promise<void> {
  await db
    .update(repositories)
    .set({ snapshotsSyncedAt: new Date() })
    .where(eq(repositories.id, id))
}

/** Records that the repository's key file now has the cheap scrypt cost (quick-key.ts). */
export async function markQuickKey(db: Db, id: number): Promise<void> {
  await db.update(repositories).set({ quickKeyAt: new Date() }).where(eq(repositories.id, id))
}

/** Size on the destination and snapshot count, as restic last reported them. */
export async function setRepositoryStats(
  db: Db,
  id: number,
  stats: { storedBytes: number; snapshotCount: number },
): Promise<void> {
  await db
    .update(repositories)
    .set({ ...stats, statsAt: new Date() })
    .where(eq(repositories.id, id))
}
