import type { Db } from './client.ts'
import { auditLog } from './schema.ts'

export type AuditInput = {
  /** Who, in words: a username, `cli`, `runner`, or `api:<key prefix>`. */
  actor: string
  /** Dotted verb, e.g. `login.ok`, `destination.update`, `restore.start`, `token.create`. */
  action: string
  userId?: number | null
  tenantId?: number | null
  /** What was acted on, in words (a destination's name, a snapshot id…). */
  target?: string | null
  ip?: string | null
  /** Extra facts; never secrets, passwords, tokens or file contents. */
  details?: Record<string, unknown> | null
}

/** Appends one audit entry. Never throws into the caller's work: a failed write is logged. */
export async function audit(db: Db, entry: AuditInput): Promise<void> {
  try {
    await db.insert(auditLog).values({
      actor: entry.actor,
      action: entry.action,
      userId: entry.userId ?? null,
      tenantId: entry.tenantId ?? null,
      target: entry.target ?? null,
      ip: entry.ip ?? null,
      details: entry.details ?? null,
      at: new Date(),
    })
  } catch (err) {
    console.error(`[audit] could not record ${entry.action}: ${(err as Error).message}`)
  }
}
