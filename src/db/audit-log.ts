import { and, asc, desc, eq, gt, gte, lt, sql, type SQL } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres } from './dialect.ts'
import { auditLog, tenants, type AuditEntry } from './schema.ts'

/** Whose entries: one tenant's (a tenant's own page), or every entry (the admin page). */
export type AuditScope = { tenantId: number } | 'all'

export type AuditFilter = {
  /** Admin only: narrow to one tenant (ignored for a tenant scope). */
  tenantId?: number
  /** Prefix of the dotted verb: `login.` matches `login.ok` and `login.failed`. */
  action?: string
  /** Exact actor name (a username, `cli`…). */
  actor?: string
  /** Entries at or after `from` and before `to`. */
  from?: Date
  to?: Date
  /** Keyset paging: entries older than this id, or (when set instead) newer than this id. */
  before?: number
  after?: number
  /** Page size; default 50. */
  limit?: number
}

export type AuditRow = AuditEntry & { tenantName: string | null }

export type AuditPage = {
  rows: AuditRow[]
  /** Id bounds to link to the neighbouring pages; null when there is none. */
  newer: number | null
  older: number | null
}

function conditions(scope: AuditScope, f: AuditFilter, pg: boolean): SQL[] {
  const where: SQL[] = []
  const tenantId = scope === 'all' ? f.tenantId : scope.tenantId
  if (tenantId !== undefined) where.push(eq(auditLog.tenantId, tenantId))
  if (f.action) {
    // A range on the (action, id) index rather than LIKE, which SQLite cannot index here.
    // Actions are ASCII, so U+FFFF sorts after every continuation of the prefix. PostgreSQL
    // compares by the database's collation, which may ignore U+FFFF or punctuation: starts_with
    // holds under any (and uses the index under collation "C").
    if (pg) where.push(sql`starts_with(${auditLog.action}, ${f.action})`)
    else where.push(gte(auditLog.action, f.action), lt(auditLog.action, f.action + '\uffff'))
  }
  if (f.actor) where.push(eq(auditLog.actor, f.actor))
  if (f.from) where.push(gte(auditLog.at, f.from))
  if (f.to) where.push(lt(auditLog.at, f.to))
  return where
}

async function exists(db: Db, where: SQL[]): Promise<boolean> {
  return !!(
    await db
      .select({ id: auditLog.id })
      .from(auditLog)
      .where(and(...where))
      .limit(1)
  )[0]
}

/**
 * One page of audit entries, newest first, filtered and paged in SQL (keyset on id, so deep
 * pages cost the same as the first). A tenant scope only ever returns that tenant's rows.
 */
export async function listAudit(
  db: Db,
  scope: AuditScope,
  filter: AuditFilter = {},
): Promise<AuditPage> {
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 500)
  const base = conditions(scope, filter, isPostgres(db))
  const forward = filter.after !== undefined && filter.before === undefined
  const where = [...base]
  if (filter.before !== undefined) where.push(lt(auditLog.id, filter.before))
  else if (forward) where.push(gt(auditLog.id, filter.after!))
  const found = await db
    .select({ entry: auditLog, tenantName: tenants.name })
    .from(auditLog)
    .leftJoin(tenants, eq(auditLog.tenantId, tenants.id))
    .where(and(...where))
    .orderBy(forward ? asc(auditLog.id) : desc(auditLog.id))
    .limit(limit)
  if (forward) found.reverse()
  const rows = found.map((r) => ({ ...r.entry, tenantName: r.tenantName }))
  const first = rows[0]?.id
  const last = rows[rows.length - 1]?.id
  return {
    rows,
    newer:
      first !== undefined && (await exists(db, [...base, gt(auditLog.id, first)])) ? first : null,
    older: last !== undefined && (await exists(db, [...base, lt(auditLog.id, last)])) ? last : null,
  }
}
