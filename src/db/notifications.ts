import { and, asc, desc, eq, isNotNull, ne, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres } from './dialect.ts'
import { rowsChanged } from './tx.ts'
import { notifications, users, type Notification } from './schema.ts'

export type NewNotification = {
  tenantId: number | null
  channel: 'email' | 'webhook'
  recipient: string
  event: string
  subject: string
  body: string
}

/** Queues notices as pending rows, in one statement. */
export async function insertNotifications(db: Db, rows: NewNotification[]): Promise<void> {
  if (rows.length) await db.insert(notifications).values(rows)
}

/** The tenant's latest notices, newest first (the Notifications page shows 20). */
export async function listNotifications(
  db: Db,
  tenantId: number,
  limit = 20,
): Promise<Notification[]> {
  return await db
    .select()
    .from(notifications)
    .where(eq(notifications.tenantId, tenantId))
    .orderBy(desc(notifications.id))
    .limit(limit)
}

/**
 * Pending notices due by `now`, oldest first. A notice is due at its creation, then
 * `retryBaseMs`·(2^attempts − 1) later, so the gaps between attempts double; derived from the
 * row alone, so every sender process agrees. Filtered in SQL, so notices waiting out their
 * backoff never crowd due ones out of the batch.
 */
export async function dueNotifications(
  db: Db,
  now: number,
  retryBaseMs: number,
  limit = 100,
): Promise<Notification[]> {
  return await db
    .select()
    .from(notifications)
    .where(
      and(
        eq(notifications.status, 'pending'),
        isPostgres(db)
          ? sql`${notifications.createdAt} + make_interval(secs => ${retryBaseMs / 1000}::float8 * ((1 << ${notifications.attempts}) - 1)) <= ${new Date(now)}`
          : sql`${notifications.createdAt} + ${retryBaseMs} * ((1 << ${notifications.attempts}) - 1) <= ${now}`,
      ),
    )
    .orderBy(asc(notifications.id))
    .limit(limit)
}

/**
 * Takes a pending notice for one delivery attempt by raising `attempts` from the value the
 * caller saw: of several sender processes only one wins, and the raised count pushes the
 * notice's next due time out, so a sender that dies mid-send leaves it for a later retry.
 */
export async function claimNotification(db: Db, row: Notification): Promise<boolean> {
  const res = await db
    .update(notifications)
    .set({ attempts: row.attempts + 1 })
    .where(
      and(
        eq(notifications.id, row.id),
        eq(notifications.status, 'pending'),
        eq(notifications.attempts, row.attempts),
      ),
    )
  return rowsChanged(res) === 1
}

export async function markSent(db: Db, id: number, now = new Date()): Promise<void> {
  await db
    .update(notifications)
    .set({ status: 'sent', sentAt: now, error: null })
    .where(eq(notifications.id, id))
}

/** Records a failed attempt: `final` gives up (status failed), else it stays pending for a retry. */
export async function markAttemptFailed(
  db: Db,
  id: number,
  error: string,
  final: boolean,
): Promise<void> {
  await db
    .update(notifications)
    .set({ status: final ? 'failed' : 'pending', error })
    .where(eq(notifications.id, id))
}

/** Admins who gave an e-mail address (they get token notices and verify failures). */
export async function adminEmails(db: Db): Promise<string[]> {
  return (
    await db
      .select({ email: users.email })
      .from(users)
      .where(and(eq(users.role, 'admin'), isNotNull(users.email), ne(users.email, '')))
      .orderBy(asc(users.id))
  ).map((r) => r.email!)
}

/** An admin's own address for notices; null clears it. */
export async function setAdminEmail(db: Db, userId: number, email: string | null): Promise<void> {
  await db
    .update(users)
    .set({ email })
    .where(and(eq(users.id, userId), eq(users.role, 'admin')))
}
