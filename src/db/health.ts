import type BetterSqlite3 from 'better-sqlite3'
import { sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres, rows } from './dialect.ts'
import { tenantHealth } from './schema.ts'
import { nextRuns } from '../schedule.ts'
import { storedUsage } from './limits.ts'

/** Backup statuses that end a run; queued and running runs do not count yet. */
const FINISHED = `('success', 'partial', 'failed', 'interrupted')`

type Row = Record<string, number | string | null>
type Client = Db['$client']
type Statement = BetterSqlite3.Statement<unknown[]>

// Prepared once per connection: a refresh runs after every run and 10,000 times in a backfill.
const prepared = new WeakMap<Client, Map<string, Statement>>()
function stmt(client: Client, text: string): Statement {
  let cache = prepared.get(client)
  if (!cache) prepared.set(client, (cache = new Map()))
  let s = cache.get(text)
  if (!s) cache.set(text, (s = client.prepare<unknown[]>(text)))
  return s
}

// Every statement reads one tenant through an index led by tenant_id (runs_tenant_kind_status_idx,
// verifications_tenant_idx, policies_tenant_name; storedUsage by repositories), so a refresh
// after each run costs the same at 10 tenants or 10,000.
const LAST_RUN = `
  select id, status, error, finished_at as at from runs
  where tenant_id = ? and kind = 'backup' and status in ${FINISHED}
  order by id desc limit 1`
const LAST_SUCCESS = `
  select finished_at as at from runs
  where tenant_id = ? and kind = 'backup' and status = 'success'
  order by id desc limit 1`
// Failed or interrupted backups newer than the newest backup that produced a snapshot
// (success or partial): the runs failed in a row.
const STREAK = `
  select count(*) as n from runs
  where tenant_id = ? and kind = 'backup' and status in ('failed', 'interrupted')
    and id > coalesce((select id from runs
                       where tenant_id = ? and kind = 'backup' and status in ('success', 'partial')
                       order by id desc limit 1), 0)`
const POLICIES = `
  select p.schedule, p.timezone, coalesce(s.missed_count, 0) as missed, t.disabled
  from policies p
  join tenants t on t.id = p.tenant_id
  left join schedule_state s on s.policy_id = p.id
  where p.tenant_id = ? and p.enabled = 1`
const VERIFIED = `
  select created_at as at, ok from verifications
  where tenant_id = ? and mode = 'restore'
  order by id desc limit 1`

/** PostgreSQL: a timestamptz as epoch milliseconds (a JS number), as SQLite stores it. */
const epochMs = (column: string) => sql.raw(`(extract(epoch from ${column}) * 1000)::float8`)

type Policy = { schedule: string; timezone: string; missed: number; disabled: number | boolean }

/** The same statements as above, on PostgreSQL (same indexes; dates as epoch ms, booleans). */
async function readPg(db: Db, tenantId: number) {
  const last = (
    await rows<Row>(
      db,
      sql`select id, status, error, ${epochMs('finished_at')} as at from runs
        where tenant_id = ${tenantId} and kind = 'backup' and status in ${sql.raw(FINISHED)}
        order by id desc limit 1`,
    )
  )[0]
  const success = (
    await rows<Row>(
      db,
      sql`select ${epochMs('finished_at')} as at from runs
        where tenant_id = ${tenantId} and kind = 'backup' and status = 'success'
        order by id desc limit 1`,
    )
  )[0]
  const streak = (
    await rows<{ n: number }>(
      db,
      sql`select count(*)::int as n from runs
        where tenant_id = ${tenantId} and kind = 'backup' and status in ('failed', 'interrupted')
          and id > coalesce((select id from runs
                             where tenant_id = ${tenantId} and kind = 'backup' and status in ('success', 'partial')
                             order by id desc limit 1), 0)`,
    )
  )[0]!.n
  const policies = await rows<Policy>(
    db,
    sql`select p.schedule, p.timezone, coalesce(s.missed_count, 0)::int as missed, t.disabled
      from policies p
      join tenants t on t.id = p.tenant_id
      left join schedule_state s on s.policy_id = p.id
      where p.tenant_id = ${tenantId} and p.enabled`,
  )
  const verified = (
    await rows<Row & { ok: boolean }>(
      db,
      sql`select ${epochMs('created_at')} as at, ok from verifications
        where tenant_id = ${tenantId} and mode = 'restore'
        order by id desc limit 1`,
    )
  )[0]
  return { last, success, streak, policies, verified }
}

/** The earliest next slot after `now` over the given schedules, or null when there is none. */
export function earliestNextRun(
  schedules: { schedule: string; timezone: string }[],
  now: Date,
): Date | null {
  let best: Date | null = null
  for (const p of schedules) {
    const res = nextRuns(p.schedule, p.timezone, 1, now)
    const next = res.ok ? res.next[0] : undefined
    if (next && (!best || next < best)) best = next
  }
  return best
}

/**
 * Recomputes the tenant's `tenant_health` row (inserting it when missing) from its runs,
 * enabled policies, schedule state, repositories and verifications:
 * - last run: the latest finished backup run; `lastError` is its reason when it was not green;
 * - `lastSuccessAt`: the latest fully successful backup (partial runs are not good backups);
 * - `failingStreak`: failed or interrupted backups in a row since the last success or partial;
 * - `missedCount`: missed slots summed over enabled policies;
 * - `storedBytes`/`snapshotCount`: summed over the tenant's repositories (restic stats);
 * - `nextRunAt`: the earliest next slot after `now` of enabled policies, null when the
 *   tenant is disabled or has no schedule;
 * - `lastVerifiedAt`/`lastVerifiedOk`: the latest test restore (verifications, mode restore).
 * Reads only indexed per-tenant rows; safe inside a caller's transaction.
 */
export async function refreshTenantHealth(
  db: Db,
  tenantId: number,
  now = new Date(),
): Promise<void> {
  let last: Row | undefined
  let success: Row | undefined
  let streak: number
  let policies: Policy[]
  let stored: { bytes: number; snapshots: number }
  let verified: (Row & { ok: number | boolean }) | undefined
  if (isPostgres(db)) {
    ;({ last, success, streak, policies, verified } = await readPg(db, tenantId))
    stored = await storedUsage(db, tenantId)
  } else {
    const q = (text: string) => stmt(db.$client, text)
    last = q(LAST_RUN).get(tenantId) as Row | undefined
    success = q(LAST_SUCCESS).get(tenantId) as Row | undefined
    streak = (q(STREAK).get(tenantId, tenantId) as Row).n as number
    policies = q(POLICIES).all(tenantId) as Policy[]
    // The same sums the quotas check, so the admin page and a refusal never disagree.
    stored = await storedUsage(db, tenantId)
    verified = q(VERIFIED).get(tenantId) as (Row & { ok: number }) | undefined
  }
  const date = (v: unknown) => (typeof v === 'number' ? new Date(v) : null)
  const active = policies.filter((p) => !p.disabled)
  const values = {
    lastRunId: (last?.id as number | undefined) ?? null,
    lastRunStatus: (last?.status as string | undefined) ?? null,
    lastRunAt: date(last?.at),
    lastSuccessAt: date(success?.at),
    failingStreak: streak,
    lastError: last && last.status !== 'success' ? ((last.error as string | null) ?? null) : null,
    missedCount: policies.reduce((n, p) => n + p.missed, 0),
    storedBytes: stored.bytes,
    snapshotCount: stored.snapshots,
    nextRunAt: earliestNextRun(active, now),
    lastVerifiedAt: date(verified?.at),
    lastVerifiedOk: verified ? Boolean(verified.ok) : null,
    updatedAt: now,
  }
  await db
    .insert(tenantHealth)
    .values({ tenantId, ...values })
    .onConflictDoUpdate({ target: tenantHealth.tenantId, set: values })
}

/** The health row of a tenant created just now: nothing run, nothing stored, zeros. */
export async function insertEmptyHealth(db: Pick<Db, 'insert'>, tenantId: number): Promise<void> {
  await db.insert(tenantHealth).values({ tenantId }).onConflictDoNothing()
}

/**
 * Tenants without a health row (created before health was tracked, or behind the panel's
 * back); their rows are computed now. Returns how many were added.
 */
export async function backfillTenantHealth(db: Db, now = new Date()): Promise<number> {
  const missing = await rows<{ id: number }>(
    db,
    sql`select id from tenants t where not exists (select 1 from tenant_health h where h.tenant_id = t.id)`,
  )
  for (const { id } of missing) await refreshTenantHealth(db, id, now)
  return missing.length
}
