import { and, lt, ne } from 'drizzle-orm'
import type { Db } from './client.ts'
import { auditLog, notifications } from './schema.ts'

const DAY = 86_400_000

/** Delivered or given-up notices are history for the tenant's page; this many days of it. */
export const NOTICE_DAYS = 90

/**
 * Deletes audit entries older than `auditDays` (0 keeps them forever) and finished notices
 * older than NOTICE_DAYS, so neither table grows without bound. Returns what was removed.
 */
export function pruneHistory(
  db: Db,
  opts: { auditDays: number; now?: Date },
): { audit: number; notices: number } {
  const now = (opts.now ?? new Date()).getTime()
  const audit = opts.auditDays
    ? db
        .delete(auditLog)
        .where(lt(auditLog.at, new Date(now - opts.auditDays * DAY)))
        .run().changes
    : 0
  const notices = db
    .delete(notifications)
    .where(
      and(
        ne(notifications.status, 'pending'),
        lt(notifications.createdAt, new Date(now - NOTICE_DAYS * DAY)),
      ),
    )
    .run().changes
  return { audit, notices }
}
