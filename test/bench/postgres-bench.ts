/**
 * The panel on PostgreSQL, on a throwaway server (test/support/panel-postgres.ts).
 * 1. Queue drain: 2,000 sync-snapshots jobs of 50 tenants, queued through enqueue() one tenant
 *    after another (so a first-in-first-out claim would be as unfair as it gets), drained by
 *    separate runner processes (queue-drain-worker.ts: startRunner, default poll, concurrency 4,
 *    a handler that only records the claim). One process, then four, on the same database
 *    (the jobs re-queued in between); one process on a SQLite file as a reference. Checked
 *    from the records and the table: no job claimed twice, attempts 1 everywhere, no tenant
 *    with two jobs running at once (from the records, and on PostgreSQL also in commit order,
 *    see COMMIT_LOG), and the spread of per-tenant claim counts over every prefix of the claim
 *    order (1 is round robin).
 * 2. Admin > Tenants at fleet scale (admin-page.ts's seeding and requests, BENCH_TENANTS /
 *    BENCH_RUNS honoured), beside the SQLite numbers when the admin-page section ran before.
 * Inside `npm run bench` (`-- --only postgres`), or `node --import tsx test/bench/postgres-bench.ts`.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { count, inArray, ne, sql } from 'drizzle-orm'
import { openDatabase, type Db } from '../../src/db/client.ts'
import { closePostgres, isPostgres, rows } from '../../src/db/dialect.ts'
import { enqueue } from '../../src/db/jobs.ts'
import { notifyRunners } from '../../src/db/job-wakeups.ts'
import { jobs, runnerHeartbeats, tenants, useTablesOf } from '../../src/db/schema.ts'
import { pauseRunner, resumeRunner } from '../../src/runner/runner.ts'
import { panelPostgres, pgDeps } from '../support/panel-postgres.ts'
import { requirePostgres } from '../services/postgres.ts'
import {
  fleetSize,
  seedFleet,
  sqlitePageTimings,
  targetLine,
  timeTenantsPages,
} from './admin-page.ts'
import type { ClaimRecord, WorkerReport } from './queue-drain-worker.ts'

const TENANTS = 50
const JOBS = 2000
const CONCURRENCY = 4
const WORKER = fileURLToPath(new URL('./queue-drain-worker.ts', import.meta.url))

/**
 * The bench database's log of job status changes in each tenant's commit order: a deferred
 * trigger takes a per-tenant advisory lock at commit, so of two transactions changing one
 * tenant's jobs the later one logs after the earlier one has committed. Sound where the
 * processes' clocks are not: a claim recorded a few ms before the previous completion had
 * answered may still have committed after it. Rolled-back claims log nothing.
 */
const COMMIT_LOG = `
  create table bench_job_events (seq bigserial primary key, job_id integer, tenant_id integer,
    status text);
  create function bench_job_event() returns trigger language plpgsql as $$
  begin
    perform pg_advisory_xact_lock(4242, new.tenant_id);
    insert into bench_job_events (job_id, tenant_id, status)
      values (new.id, new.tenant_id, new.status);
    return null;
  end $$;
  create constraint trigger bench_job_event after update of status on jobs
    deferrable initially deferred for each row
    when (old.status is distinct from new.status) execute function bench_job_event();`

type Drain = {
  label: string
  drainS: number
  claimsPerS: number
  claimedTwice: number
  notOneAttempt: number
  notDone: number
  maxSpread: number
  spreadOver1: number
  overlaps: number
  maxOverlapMs: number
  /** Commits that left a tenant with two running jobs (PostgreSQL's COMMIT_LOG); null on SQLite. */
  commitOverlaps: number | '?' | null
  errors: number
  firstErrors: string[]
}

/** Runs both parts; returns the report (a skip line when PostgreSQL is not installed). */
export async function benchPostgres(log: (msg: string) => void = () => {}): Promise<string> {
  if (!requirePostgres()) return '\nPostgreSQL: skipped, initdb/postgres/psql are not installed.'
  const dir = mkdtempSync(join(tmpdir(), 'panel-bench-pg-'))
  let server: Awaited<ReturnType<typeof panelPostgres>>['server'] | undefined
  const open: Db[] = []
  try {
    // SQLite first: opening PostgreSQL switches this process's query modules to its tables.
    useTablesOf('sqlite')
    const sqliteDb = await openDatabase({
      databaseUrl: null,
      dbPath: join(dir, 'panel.db'),
      dataDir: dir,
    })
    open.push(sqliteDb)
    log('postgres: queue drain on SQLite, 1 process (reference)')
    const sqliteSeed = await seedQueue(sqliteDb, true)
    const sqliteRun = await drain(sqliteDb, join(dir, 'panel.db'), 1, 'SQLite', dir)
    sqliteDb.$client.close()
    open.length = 0

    log('postgres: starting a PostgreSQL server')
    const pg = await panelPostgres()
    server = pg.server
    const db = await openDatabase({ databaseUrl: pg.url, dbPath: '', dataDir: dir }, { log })
    open.push(db)
    await rows(db, sql.raw(COMMIT_LOG))
    const pgSeed = await seedQueue(db, true)
    log('postgres: queue drain, 1 process')
    const one = await drain(db, pg.url, 1, 'PostgreSQL', dir)
    await seedQueue(db, false)
    log('postgres: queue drain, 4 processes')
    const four = await drain(db, pg.url, 4, 'PostgreSQL', dir)
    await closePostgres(db)
    open.length = 0

    const lines = drainReport(sqliteSeed, pgSeed, [sqliteRun, one, four])
    lines.push(...(await adminPage(pg, log)))
    return lines.join('\n')
  } finally {
    for (const db of open) {
      if (isPostgres(db)) await closePostgres(db)
      else db.$client.close()
    }
    await server?.stop()
    useTablesOf('sqlite')
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Queues JOBS sync-snapshots jobs through enqueue(), all of the first tenant's, then the
 * second's…; `tenantsToo` first adds the TENANTS tenants, else the previous jobs are deleted.
 * Returns the seconds the enqueues took.
 */
async function seedQueue(db: Db, tenantsToo: boolean): Promise<number> {
  if (tenantsToo) {
    const names = Array.from({ length: TENANTS }, (_, i) => `q${String(i + 1).padStart(2, '0')}`)
    await db.insert(tenants).values(names.map((name) => ({ name, homeDir: `/home/${name}` })))
  } else {
    await db.delete(jobs)
    await rows(db, sql`truncate bench_job_events`)
  }
  const ids = (await db.select({ id: tenants.id }).from(tenants).orderBy(tenants.id)).map(
    (t) => t.id,
  )
  const start = performance.now()
  for (let i = 0; i < JOBS; i++) {
    const tenantId = ids[Math.floor((i * ids.length) / JOBS)]!
    await enqueue(db, { kind: 'sync-snapshots', tenantId, payload: { destinationId: 1 } })
  }
  const seconds = (performance.now() - start) / 1000
  // Fresh planner statistics (and the deleted rows gone), as autovacuum would leave them.
  if (isPostgres(db)) await rows(db, sql`vacuum analyze jobs`)
  return seconds
}

/**
 * Starts `processes` runner processes on a paused queue, resumes it once each has polled, waits
 * until no job is queued or running, stops them and checks their records against the table.
 */
async function drain(
  db: Db,
  target: string,
  processes: number,
  engine: string,
  dir: string,
): Promise<Drain> {
  await pauseRunner(db)
  const workers = Array.from({ length: processes }, (_, i) => {
    const out = join(dir, `worker-${engine}-${processes}-${i}.json`)
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', WORKER, target, out, String(CONCURRENCY)],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    )
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    return { child, out, exited }
  })
  // A crash of this process must not leave runners polling forever.
  const killAll = () => workers.forEach((w) => w.child.kill('SIGTERM'))
  process.once('exit', killAll)
  try {
    // Each runner's first poll records its heartbeat (and finds the queue paused).
    await until(60_000, async () => (await countOf(db, runnerHeartbeats)) >= processes)
    await sleep(500) // the LISTEN connections open beside the first poll
    await resumeRunner(db)
    await notifyRunners(db) // a resume announces nothing by itself; SQLite runners poll
    const active = inArray(jobs.status, ['queued', 'running'])
    await until(600_000, async () => (await countOf(db, jobs, active)) === 0, 50)
  } finally {
    killAll()
    await Promise.all(workers.map((w) => w.exited))
    process.off('exit', killAll)
  }
  const reports = workers.map((w) => JSON.parse(readFileSync(w.out, 'utf8')) as WorkerReport)
  const records = reports.flatMap((r) => r.records).sort((a, b) => a.claimAt - b.claimAt)
  const first = records[0]?.claimAt ?? 0
  const last = Math.max(...records.map((r) => r.doneAt ?? r.claimAt))
  const drainS = (last - first) / 1000
  const table = await db.select({ attempts: jobs.attempts, status: jobs.status }).from(jobs)
  return {
    label: `${engine}, ${processes} process${processes > 1 ? 'es' : ''}`,
    drainS,
    claimsPerS: records.length / drainS,
    claimedTwice: records.length - new Set(records.map((r) => r.job)).size,
    notOneAttempt: table.filter((j) => j.attempts !== 1).length,
    notDone: table.filter((j) => j.status !== 'done').length + (JOBS - records.length),
    ...spread(records),
    ...overlaps(records),
    commitOverlaps: isPostgres(db) ? await commitOverlaps(db) : null,
    errors: reports.reduce((n, r) => n + r.errors, 0),
    firstErrors: reports.flatMap((r) => r.firstErrors),
  }
}

/** The largest spread (max − min) of per-tenant claim counts over every prefix of the claim order. */
function spread(records: ClaimRecord[]): { maxSpread: number; spreadOver1: number } {
  const counts = new Map<number, number>()
  for (const r of records) counts.set(r.tenant, 0)
  let maxSpread = 0
  let spreadOver1 = 0
  for (const r of records) {
    counts.set(r.tenant, counts.get(r.tenant)! + 1)
    const values = [...counts.values()]
    const s = Math.max(...values) - Math.min(...values)
    maxSpread = Math.max(maxSpread, s)
    if (s > 1) spreadOver1++
  }
  return { maxSpread, spreadOver1 }
}

/**
 * Per tenant, in claim order: a claim before the previous job's completion had answered. The
 * claim time is taken just after its commit and the completion just after its commit, so an
 * overlap of a fraction of a millisecond can be the two processes' timing, not two running jobs.
 */
function overlaps(records: ClaimRecord[]): { overlaps: number; maxOverlapMs: number } {
  const byTenant = new Map<number, ClaimRecord[]>()
  for (const r of records) byTenant.set(r.tenant, [...(byTenant.get(r.tenant) ?? []), r])
  let n = 0
  let maxOverlapMs = 0
  for (const list of byTenant.values()) {
    for (let i = 1; i < list.length; i++) {
      const prevDone = list[i - 1]!.doneAt ?? Infinity
      if (list[i]!.claimAt < prevDone) {
        n++
        maxOverlapMs = Math.max(maxOverlapMs, prevDone - list[i]!.claimAt)
      }
    }
  }
  return { overlaps: n, maxOverlapMs }
}

/**
 * Per tenant in commit order: a job became running while another was still running. A log
 * without a running and a done change for every job (the trigger missed some) reads "?".
 */
async function commitOverlaps(db: Db): Promise<number | '?'> {
  const events = await rows<{ tenant_id: number; status: string }>(
    db,
    sql`select tenant_id, status from bench_job_events order by seq`,
  )
  const running = new Map<number, number>()
  let n = 0
  for (const e of events) {
    const now = (running.get(e.tenant_id) ?? 0) + (e.status === 'running' ? 1 : -1)
    running.set(e.tenant_id, now)
    if (e.status === 'running' && now > 1) n++
  }
  return events.length === 2 * JOBS ? n : '?'
}

function drainReport(sqliteSeedS: number, pgSeedS: number, runs: Drain[]): string[] {
  const [sqliteRun, one, four] = runs as [Drain, Drain, Drain]
  const lines = [
    '',
    `PostgreSQL: queue drain, ${JOBS} sync-snapshots jobs of ${TENANTS} tenants (runner processes, concurrency ${CONCURRENCY} each, default poll; the handler only records the claim)`,
    `  queued through enqueue(), one tenant's jobs after another: PostgreSQL ${pgSeedS.toFixed(1)} s (${Math.round(JOBS / pgSeedS)}/s), SQLite ${sqliteSeedS.toFixed(1)} s (${Math.round(JOBS / sqliteSeedS)}/s)`,
    '  runners                  drain s  claims/s  max spread (prefixes >1)  claimed twice  attempts≠1  not done  errors  two running: commits / records',
  ]
  for (const d of runs) {
    const records = d.overlaps ? `${d.overlaps} (≤ ${d.maxOverlapMs.toFixed(1)} ms)` : '0'
    lines.push(
      `  ${d.label.padEnd(24)} ${d.drainS.toFixed(2).padStart(7)} ${d.claimsPerS.toFixed(0).padStart(9)}  ${`${d.maxSpread} (${d.spreadOver1})`.padEnd(24)}  ${String(d.claimedTwice).padStart(13)}  ${String(d.notOneAttempt).padStart(10)}  ${String(d.notDone).padStart(8)}  ${String(d.errors).padStart(6)}  ${d.commitOverlaps ?? '–'} / ${records}`,
    )
    for (const e of d.firstErrors) lines.push(`    ${d.label} error: ${e.split('\n')[0]}`)
  }
  lines.push(
    `  4 processes: ${four.claimsPerS.toFixed(0)} claims/s (${(four.claimsPerS / one.claimsPerS).toFixed(2)}× one process)`,
    `  reference, SQLite with 1 process: ${sqliteRun.claimsPerS.toFixed(0)} claims/s (${(sqliteRun.claimsPerS / one.claimsPerS).toFixed(2)}× PostgreSQL's one process)`,
    "  drain: the first claim to the last completion, from the processes' records; spread: max − min of the tenants' claim counts after each claim (1: round robin)",
    "  two running: a tenant's job became running before its previous one was done, in PostgreSQL's commit order / in the processes' records (claim seen before the previous completion's answer, by up to the ms shown)",
  )
  return lines
}

/** Admin > Tenants on a second database of the same server, beside SQLite's when it ran. */
async function adminPage(
  pg: Awaited<ReturnType<typeof panelPostgres>>,
  log: (msg: string) => void,
): Promise<string[]> {
  const { tenantCount, runCount } = fleetSize()
  const url = new URL(pg.url)
  await pg.server.createDatabase('fleet', url.username, decodeURIComponent(url.password))
  url.pathname = '/fleet'
  const deps = await pgDeps(String(url))
  try {
    log(`postgres: admin page, seeding ${tenantCount} tenants and ${runCount} runs`)
    const seed = await seedFleet(deps.db, tenantCount, runCount)
    await rows(deps.db, sql`analyze`)
    const timings = await timeTenantsPages(deps)
    const sqliteOf = new Map((sqlitePageTimings ?? []).map((t) => [t.label, t]))
    const lines = [
      '',
      `Admin > Tenants page on PostgreSQL: ${tenantCount} tenants, ${runCount} runs (app.request with an admin session, 60 requests each)`,
      `  seeding ${seed.seededS.toFixed(1)} s; health refresh for every tenant ${seed.refreshS.toFixed(1)} s (${seed.perRefreshMs.toFixed(2)} ms per tenant, the cost after each run)`,
      `  page                                   median      p95   rows${sqliteOf.size ? '   SQLite median    p95' : ''}`,
    ]
    for (const t of timings) {
      const s = sqliteOf.get(t.label)
      const beside = s
        ? `   ${s.median.toFixed(1).padStart(10)} ms ${s.p95.toFixed(1).padStart(6)} ms`
        : ''
      lines.push(
        `  ${t.label.padEnd(36)} ${t.median.toFixed(1).padStart(7)} ms ${t.p95.toFixed(1).padStart(6)} ms ${String(t.rows).padStart(5)}${beside}`,
      )
    }
    lines.push(targetLine(timings))
    if (!sqliteOf.size)
      lines.push('  (SQLite: run the admin-page section too to see its numbers here)')
    return lines
  } finally {
    await deps.close()
    rmSync(deps.config.dataDir, { recursive: true, force: true })
  }
}

async function countOf(
  db: Db,
  table: typeof jobs | typeof runnerHeartbeats,
  where?: ReturnType<typeof ne>,
) {
  const [row] = await db.select({ n: count() }).from(table).where(where)
  return row?.n ?? 0
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(timeoutMs: number, done: () => Promise<boolean>, everyMs = 100) {
  const end = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`postgres bench: gave up waiting after ${timeoutMs} ms`)
    await sleep(everyMs)
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await benchPostgres((m) => process.stderr.write(`bench: ${m}\n`)))
}
