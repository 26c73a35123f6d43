import { and, lt, ne } from 'drizzle-orm'
import type { Db } from './client.ts'
import { rowsChanged } from './tx.ts'
import { auditLog, notifications } from './schema.ts'

const DAY = 86_400_000

/** Delivered or given-up notices are history for the tenant's page; this many days of it. */
export const NOTICE_DAYS = 90

/**
 * Deletes audit entries older than `auditDays` (0 keeps them forever) and finished notices
 * older than NOTICE_DAYS, so neither table grows without bound. Returns what was removed.
 */
export async function pruneHistory(
  db: Db,
  opts: { auditDays: number; now?: Date },
): Promise<{ audit: number; notices: number }> {
  const now = (opts.now ?? new Date()).getTime()
  const audit = opts.auditDays
    ? rowsChanged(
        await db.delete(auditLog).where(lt(auditLog.at, new Date(now - opts.auditDays * DAY))),
      )
    : 0
  const notices = rowsChanged(
    await db
      .delete(notifications)
      .where(
        and(
          ne(notifications.status, 'pending'),
          lt(notifications.createdAt, new Date(now - NOTICE_DAYS * DAY)),
        ),
      ),
  )
  return { audit, notices }
}
