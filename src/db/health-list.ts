import { and, asc, count, desc, eq, gt, isNull, lt, sql, type Column, type SQL } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres } from './dialect.ts'
import { tenantHealth, tenants } from './schema.ts'

/** A tenant is stale when its last good backup is older than this. */
export const STALE_MS = 48 * 3600_000
export const HEALTH_PAGE_SIZE = 50

export const HEALTH_FILTERS = ['all', 'failing', 'stale', 'never', 'missed', 'disabled'] as const
export type HealthFilter = (typeof HEALTH_FILTERS)[number]
/** Filters with their own tenant_health index that, in a working fleet, match few tenants. */
const SELECTIVE = new Set<HealthFilter>(['failing', 'stale', 'never', 'missed'])

// Each sort column has its own index on tenant_health (tenants.name its unique index); the
// tenant id breaks ties, which those indexes already carry as the rowid, so pages are stable.
const SORTS = {
  name: tenants.name,
  'last-success': tenantHealth.lastSuccessAt,
  streak: tenantHealth.failingStreak,
  missed: tenantHealth.missedCount,
  stored: tenantHealth.storedBytes,
  'next-run': tenantHealth.nextRunAt,
  verified: tenantHealth.lastVerifiedAt,
} as const
export type HealthSort = keyof typeof SORTS
export const HEALTH_SORTS = Object.keys(SORTS) as HealthSort[]

/** What the admin's Tenants page shows; every field comes from the query string. */
export type HealthQuery = {
  filter: HealthFilter
  sort: HealthSort
  dir: 'asc' | 'desc'
  /** 1-based. */
  page: number
  /** Part of the tenant name, '' for any. */
  q: string
}

export const DEFAULT_HEALTH_QUERY: HealthQuery = {
  filter: 'all',
  sort: 'name',
  dir: 'asc',
  page: 1,
  q: '',
}

/** A 1-based page number from the query string: anything else is page 1. */
export function pageParam(text: string | undefined): number {
  return Math.min(Math.max(Number.parseInt(text ?? '', 10) || 1, 1), 1_000_000)
}

/** Reads the query string leniently: anything unknown falls back to the default. */
export function parseHealthQuery(get: (key: string) => string | undefined): HealthQuery {
  const d = DEFAULT_HEALTH_QUERY
  const filter = HEALTH_FILTERS.find((f) => f === get('filter')) ?? d.filter
  const sort = HEALTH_SORTS.find((s) => s === get('sort')) ?? d.sort
  const dir = get('dir') === 'desc' ? 'desc' : get('dir') === 'asc' ? 'asc' : d.dir
  const page = pageParam(get('page'))
  const q = (get('q') ?? '').trim().toLowerCase().slice(0, 64)
  return { filter, sort, dir, page, q }
}

export type HealthRow = {
  tenantId: number
  name: string
  homeDir: string
  /** The hosting node the tenant lives on; null: the panel's own server. */
  node: string | null
  disabled: boolean
  lastRunId: number | null
  lastRunStatus: string | null
  lastRunAt: Date | null
  lastSuccessAt: Date | null
  failingStreak: number
  lastError: string | null
  missedCount: number
  storedBytes: number
  snapshotCount: number
  nextRunAt: Date | null
  lastVerifiedAt: Date | null
  lastVerifiedOk: boolean | null
}

export type HealthPage = { rows: HealthRow[]; total: number; page: number; pages: number }

function filterOf(query: HealthQuery, now: Date, pg: boolean): SQL | undefined {
  const h = tenantHealth
  const parts: (SQL | undefined)[] = []
  if (query.filter === 'failing') parts.push(gt(h.failingStreak, 0))
  if (query.filter === 'stale') parts.push(lt(h.lastSuccessAt, new Date(now.getTime() - STALE_MS)))
  if (query.filter === 'never') parts.push(isNull(h.lastSuccessAt))
  if (query.filter === 'missed') parts.push(gt(h.missedCount, 0))
  if (query.filter === 'disabled') parts.push(eq(tenants.disabled, true))
  if (query.q) {
    const pattern = `%${query.q.replace(/[\\%_]/g, '\\$&')}%`
    // SQLite's LIKE ignores the case of ASCII letters only; so does ILIKE under collation "C".
    parts.push(
      pg
        ? sql`${tenants.name} collate "C" ilike ${pattern} escape '\\'`
        : sql`${tenants.name} like ${pattern} escape '\\'`,
    )
  }
  return parts.length ? and(...parts) : undefined
}

/**
 * One page of tenants with their health, filtered, sorted and counted in SQL on tenant_health
 * joined to tenants (two indexed statements, whatever the number of tenants or runs). A page
 * past the end gives the last page. Stale: last good backup older than STALE_MS; never: no
 * good backup at all.
 */
export async function listTenantHealth(
  db: Db,
  query: HealthQuery,
  now = new Date(),
): Promise<HealthPage> {
  const pg = isPostgres(db)
  const where = filterOf(query, now, pg)
  const total = await countWhere(db, query, where)
  const pages = Math.max(1, Math.ceil(total / HEALTH_PAGE_SIZE))
  const page = Math.min(query.page, pages)
  // With a selective filter, SQLite should find the few rows through the filter's index and
  // sort them, not walk the sort column's index over every tenant: `+col` hides that index.
  const key = (col: Column) => (SELECTIVE.has(query.filter) ? sql`+${col}` : col)
  // `+col` is SQLite's own syntax; PostgreSQL's planner weighs the two plans by its statistics.
  // SQLite puts nulls first going up and last going down; PostgreSQL the other way round.
  const order = pg
    ? (col: Column) =>
        col.notNull
          ? (query.dir === 'desc' ? desc : asc)(col)
          : query.dir === 'desc'
            ? sql`${col} desc nulls last`
            : sql`${col} asc nulls first`
    : (col: Column) => (query.dir === 'desc' ? desc : asc)(key(col))
  const rows = await db
    .select({
      tenantId: tenantHealth.tenantId,
      name: tenants.name,
      homeDir: tenants.homeDir,
      node: tenants.node,
      disabled: tenants.disabled,
      lastRunId: tenantHealth.lastRunId,
      lastRunStatus: tenantHealth.lastRunStatus,
      lastRunAt: tenantHealth.lastRunAt,
      lastSuccessAt: tenantHealth.lastSuccessAt,
      failingStreak: tenantHealth.failingStreak,
      lastError: tenantHealth.lastError,
      missedCount: tenantHealth.missedCount,
      storedBytes: tenantHealth.storedBytes,
      snapshotCount: tenantHealth.snapshotCount,
      nextRunAt: tenantHealth.nextRunAt,
      lastVerifiedAt: tenantHealth.lastVerifiedAt,
      lastVerifiedOk: tenantHealth.lastVerifiedOk,
    })
    .from(tenantHealth)
    .innerJoin(tenants, eq(tenants.id, tenantHealth.tenantId))
    .where(where)
    .orderBy(
      ...(query.sort === 'name'
        ? [order(tenants.name)]
        : [order(SORTS[query.sort]), order(tenantHealth.tenantId)]),
    )
    .limit(HEALTH_PAGE_SIZE)
    .offset((page - 1) * HEALTH_PAGE_SIZE)
  return { rows, total, page, pages }
}

/**
 * Counts on tenant_health alone (its covering indexes) unless the filter needs tenants' columns:
 * every health row has its tenant (foreign key, cascade), so the join would only cost lookups.
 */
async function countWhere(db: Db, query: HealthQuery, where: SQL | undefined): Promise<number> {
  const base = db.select({ n: count() }).from(tenantHealth)
  const needsTenants = query.filter === 'disabled' || query.q !== ''
  const scoped = needsTenants
    ? base.innerJoin(tenants, eq(tenants.id, tenantHealth.tenantId))
    : base
  return (await scoped.where(where))[0]?.n ?? 0
}

/** How many tenants each filter shows, with the query's name search applied (the filter tabs). */
export async function countTenantHealth(
  db: Db,
  query: HealthQuery,
  now = new Date(),
): Promise<Record<HealthFilter, number>> {
  const out = {} as Record<HealthFilter, number>
  const pg = isPostgres(db)
  for (const filter of HEALTH_FILTERS) {
    const q = { ...query, filter }
    out[filter] = await countWhere(db, q, filterOf(q, now, pg))
  }
  return out
}

/** One tenant's health row; undefined until it was first computed. */
export async function tenantHealthOf(db: Db, tenantId: number) {
  return (await db.select().from(tenantHealth).where(eq(tenantHealth.tenantId, tenantId)))[0]
}
