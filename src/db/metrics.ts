import { sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres, rows } from './dialect.ts'

/** Upper bounds (seconds) of the run duration histogram: 10 s up to 6 h. */
export const DURATION_BUCKETS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 21600] as const

export type RunCount = { kind: string; status: string; count: number }

export type DurationHistogram = {
  kind: string
  /** Cumulative counts per bucket bound, in DURATION_BUCKETS order. */
  buckets: number[]
  count: number
  sumSeconds: number
}

export type PanelMetrics = {
  runs: RunCount[]
  durations: DurationHistogram[]
  backupBytes: number
  queue: { queued: number; running: number }
  /** Oldest last good backup among tenants expected to back up; null when none has one. */
  oldestGoodBackupAt: Date | null
  neverBackedUp: number
  failing: number
  storedBytes: number
}

const FINISHED = `('success', 'partial', 'failed', 'interrupted')`

// Counts, bytes and the duration histogram of finished runs in an id range, in one pass.
const bucketColumns = DURATION_BUCKETS.map((b, i) => `sum(d <= ${b * 1000}) as b${i}`).join(', ')
const RUNS = `
  select kind, status, count(*) as n, coalesce(sum(bytes), 0) as bytes,
         count(d) as dn, coalesce(sum(d), 0) as dsum, ${bucketColumns}
  from (select kind, status, bytes,
               case when finished_at >= started_at then finished_at - started_at end as d
        from runs where id > ? and id <= ? and status in ${FINISHED})
  group by kind, status`
// Rowid range scans: only the runs after the sealed prefix are read.
const FIRST_ACTIVE = `select id from runs where id > ? and status in ('queued', 'running') order by id limit 1`
const MAX_ID = `select coalesce(max(id), 0) as id from runs`

type Agg = {
  kind: string
  status: string
  n: number
  bytes: number
  dn: number
  dsum: number
  b: number[]
}

/**
 * Run totals of the longest prefix of run ids that are all finished, per database connection.
 * A finished run never changes again, so a scrape reads only the runs after that prefix
 * (those still running and the ones since): a few rows, however many runs the table holds.
 * The first scrape after start reads the table once. Runs deleted with their tenant stay
 * counted, which is what a Prometheus counter wants (it only ever goes up).
 */
const sealed = new WeakMap<Db['$client'], { upTo: number; agg: Map<string, Agg> }>()

function addRows(into: Map<string, Agg>, rows: Row[]): void {
  for (const r of rows) {
    const key = `${r.kind}\0${r.status}`
    let a = into.get(key)
    if (!a)
      into.set(
        key,
        (a = {
          kind: String(r.kind),
          status: String(r.status),
          n: 0,
          bytes: 0,
          dn: 0,
          dsum: 0,
          b: DURATION_BUCKETS.map(() => 0),
        }),
      )
    a.n += Number(r.n)
    a.bytes += Number(r.bytes)
    a.dn += Number(r.dn)
    a.dsum += Number(r.dsum)
    DURATION_BUCKETS.forEach((_, i) => (a.b[i]! += Number(r[`b${i}`] ?? 0)))
  }
}

/** Totals over every finished run: the sealed prefix (extended when it can be) plus the tail. */
function runTotals(db: Db): Agg[] {
  const client = db.$client
  const read = client.transaction(() => {
    let state = sealed.get(client)
    if (!state) sealed.set(client, (state = { upTo: 0, agg: new Map() }))
    const active = client.prepare(FIRST_ACTIVE).get(state.upTo) as { id: number } | undefined
    const sealTo = active ? active.id - 1 : Number((client.prepare(MAX_ID).get() as Row).id)
    if (sealTo > state.upTo) {
      addRows(state.agg, client.prepare(RUNS).all(state.upTo, sealTo) as Row[])
      state.upTo = sealTo
    }
    const total = new Map([...state.agg].map(([k, a]) => [k, { ...a, b: [...a.b] }]))
    addRows(total, client.prepare(RUNS).all(state.upTo, Number.MAX_SAFE_INTEGER) as Row[])
    return [...total.values()]
  })
  return read()
}

/**
 * PostgreSQL: the same totals in one statement over every finished run, without the sealed
 * prefix. Identity values are taken before commit, so a run with a lower id may become visible
 * after a higher one: a prefix sealed past it would never count it. Durations are whole
 * milliseconds, as SQLite stores them.
 */
async function runTotalsPg(db: Db): Promise<Agg[]> {
  const buckets = DURATION_BUCKETS.map(
    (b, i) => `count(*) filter (where d <= ${b * 1000}) as b${i}`,
  ).join(', ')
  const found = await rows<Row>(
    db,
    sql.raw(`
      select kind, status, count(*) as n, coalesce(sum(bytes), 0) as bytes,
             count(d) as dn, coalesce(sum(d), 0) as dsum, ${buckets}
      from (select kind, status, bytes,
                   case when finished_at >= started_at
                        then round(extract(epoch from finished_at - started_at) * 1000) end as d
            from runs where status in ${FINISHED}) f
      group by kind, status
      order by kind, status`),
  )
  const agg = new Map<string, Agg>()
  addRows(agg, found)
  return [...agg.values()]
}

// jobs_claim_idx (status, run_at) answers this from the index.
const QUEUE = `select status, count(*) as n from jobs where status in ('queued', 'running') group by status`

// Tenants that are expected to back up: enabled, with at least one enabled policy. Their last
// good backup comes from tenant_health; only a tenant without a health row yet (never
// refreshed) falls back to its newest successful run, through runs_tenant_idx.
const FRESHNESS = `
  with expected as (
    select case when h.tenant_id is not null then h.last_success_at
             else (select max(r.finished_at) from runs r
                   where r.tenant_id = t.id and r.kind = 'backup' and r.status = 'success') end as good
    from tenants t left join tenant_health h on h.tenant_id = t.id
    where t.disabled = 0
      and exists (select 1 from policies p where p.tenant_id = t.id and p.enabled = 1))
  select min(good) as oldest, coalesce(sum(good is null), 0) as never from expected`

/** FRESHNESS on PostgreSQL: booleans, and the oldest good backup as epoch milliseconds. */
const FRESHNESS_PG = `
  with expected as (
    select case when h.tenant_id is not null then h.last_success_at
             else (select max(r.finished_at) from runs r
                   where r.tenant_id = t.id and r.kind = 'backup' and r.status = 'success') end as good
    from tenants t left join tenant_health h on h.tenant_id = t.id
    where not t.disabled
      and exists (select 1 from policies p where p.tenant_id = t.id and p.enabled))
  select (extract(epoch from min(good)) * 1000)::float8 as oldest,
         count(*) filter (where good is null) as never
  from expected`

const FAILING = `select count(*) as n from tenant_health where failing_streak > 0`
const STORED = `select coalesce(sum(stored_bytes), 0) as n from repositories`

type Row = Record<string, number | string | null>

/**
 * Panel-wide numbers for /metrics, each from aggregate statements: run counts, bytes and
 * durations of finished runs (see `sealed`), queue depth (index), backup freshness of
 * tenants with an enabled policy, failing tenants (tenant_health index) and stored bytes.
 * Spans every tenant on purpose: only admins and the metrics token may see it.
 */
export async function panelMetrics(db: Db): Promise<PanelMetrics> {
  if (isPostgres(db)) {
    const all = (text: string) => rows<Row>(db, sql.raw(text))
    return summarize(await runTotalsPg(db), {
      queue: await all(QUEUE),
      fresh: (await all(FRESHNESS_PG))[0]!,
      failing: (await all(FAILING))[0]!,
      stored: (await all(STORED))[0]!,
    })
  }
  const client = db.$client
  const totals = runTotals(db)
  return summarize(totals, {
    queue: client.prepare(QUEUE).all() as Row[],
    fresh: client.prepare(FRESHNESS).get() as Row,
    failing: client.prepare(FAILING).get() as Row,
    stored: client.prepare(STORED).get() as Row,
  })
}

/** PanelMetrics from the run totals and the rows of the other statements, on either engine. */
function summarize(
  totals: Agg[],
  r: { queue: Row[]; fresh: Row; failing: Row; stored: Row },
): PanelMetrics {
  const runs = totals.map((a) => ({ kind: a.kind, status: a.status, count: a.n }))
  const byKind = new Map<string, DurationHistogram>()
  let backupBytes = 0
  for (const a of totals) {
    if (a.kind === 'backup') backupBytes += a.bytes
    let h = byKind.get(a.kind)
    if (!h)
      byKind.set(
        a.kind,
        (h = { kind: a.kind, buckets: DURATION_BUCKETS.map(() => 0), count: 0, sumSeconds: 0 }),
      )
    a.b.forEach((n, i) => (h.buckets[i]! += n))
    h.count += a.dn
    h.sumSeconds += a.dsum / 1000
  }
  const queue = { queued: 0, running: 0 }
  for (const q of r.queue) queue[q.status as 'queued' | 'running'] = Number(q.n)
  const fresh = r.fresh
  return {
    runs,
    durations: [...byKind.values()],
    backupBytes,
    queue,
    oldestGoodBackupAt: fresh.oldest === null ? null : new Date(Number(fresh.oldest)),
    neverBackedUp: Number(fresh.never),
    failing: Number(r.failing.n),
    storedBytes: Number(r.stored.n),
  }
}
