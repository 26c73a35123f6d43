/**
 * The scheduler queueing a provider policy's window for 10,000 tenants: tenants inserted in
 * bulk (no argon2 each), one Local provider destination and one all-tenants policy 01:00-05:00
 * (server zone), then timed: the plan (syncProvider making every tenant's copy) and one
 * tickScheduler at 05:00 enqueueing the window's jobs. Prints the spread of the jobs' start
 * times (run_at) per minute of the window. Baselines in the same run: the same tick over
 * 10,000 tenant-own daily policies all set to 03:00 (the herd a window avoids), and the same
 * rows inserted plainly (10,000 policies; 10,000 jobs). BENCH_PROVIDER_TENANTS changes the size.
 * Runs inside `npm run bench`, or alone: `node --import tsx test/bench/provider-window.ts`.
 */
import { rmSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { CronExpressionParser } from 'cron-parser'
import { eq } from 'drizzle-orm'
import type { Db } from '../../src/db/client.ts'
import { saveProviderPolicyRow } from '../../src/db/provider-policies.ts'
import { jobs, policies, tenantHealth, tenants } from '../../src/db/schema.ts'
import { saveProviderDestination } from '../../src/domain/provider-destinations.ts'
import { syncProvider } from '../../src/domain/provider-sync.ts'
import { transaction } from '../../src/db/tx.ts'
import { tickScheduler } from '../../src/runner/scheduler.ts'
import { serverZone } from '../../src/zoned.ts'
import type { Deps } from '../../src/web/context.ts'
import { freshDeps } from '../helpers.ts'

const MINUTE = 60_000

async function batch<T>(rows: T[], insert: (chunk: T[]) => PromiseLike<unknown>) {
  for (let i = 0; i < rows.length; i += 500) await insert(rows.slice(i, i + 500))
}

/** `count` tenants with their empty health rows, as createTenant leaves them, in one transaction. */
async function seedTenants(db: Db, count: number): Promise<number[]> {
  await transaction(db, async () => {
    const rows = Array.from({ length: count }, (_, i) => {
      const name = `t${String(i + 1).padStart(5, '0')}`
      return { name, homeDir: `/home/${name}`, systemUser: null, timezone: 'UTC' }
    })
    await batch(rows, (chunk) => db.insert(tenants).values(chunk))
  })
  const ids = (await db.select({ id: tenants.id }).from(tenants)).map((t) => t.id)
  await transaction(db, () =>
    batch(ids, (chunk) => db.insert(tenantHealth).values(chunk.map((tenantId) => ({ tenantId })))),
  )
  return ids
}

/** Wall time, and CPU time (user + system) so a busy machine can be told from slow code. */
async function timed<T>(
  fn: () => T | Promise<T>,
): Promise<{ ms: number; cpuMs: number; value: T }> {
  const start = performance.now()
  const cpu = process.cpuUsage()
  const value = await fn()
  const used = process.cpuUsage(cpu)
  return { ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000, value }
}

/** Jobs per minute of [from, from + minutes): earliest, latest, busiest, quietest, max ÷ mean. */
function spreadOf(runAts: number[], from: number, minutes: number) {
  const perMinute = new Array<number>(minutes).fill(0)
  let outside = 0
  for (const at of runAts) {
    const m = Math.floor((at - from) / MINUTE)
    if (m >= 0 && m < minutes) perMinute[m]!++
    else outside++
  }
  const busiest = Math.max(...perMinute)
  const quietest = Math.min(...perMinute)
  const mean = runAts.length / minutes
  return {
    earliest: Math.min(...runAts),
    latest: Math.max(...runAts),
    busiest,
    busiestAt: from + perMinute.indexOf(busiest) * MINUTE,
    quietest,
    quietestAt: from + perMinute.indexOf(quietest) * MINUTE,
    empty: perMinute.filter((n) => n === 0).length,
    mean,
    ratio: busiest / mean,
    outside,
  }
}

const clock = (at: number) =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone: serverZone(),
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(at)

const queuedRunAts = async (db: Db) =>
  (await db.select({ runAt: jobs.runAt }).from(jobs).where(eq(jobs.status, 'queued'))).map((j) =>
    j.runAt.getTime(),
  )

/** The provider case: plan and enqueue, with the window's 01:00 and 05:00 after the plan. */
async function providerCase(deps: Deps, count: number) {
  const ids = await seedTenants(deps.db, count)
  const host = await saveProviderDestination(
    { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
    'local',
    null,
    { name: 'Host disk', settings: { folder: 'nightly' } },
  )
  await saveProviderPolicyRow(
    deps.db,
    null,
    {
      name: 'Nightly',
      scope: 'all',
      plan: null,
      includeHome: true,
      includeDatabases: true,
      excludeGlobs: [],
      windowStart: '01:00',
      windowEnd: '05:00',
      keepLast: 0,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 12,
      keepYearly: 0,
      enabled: true,
    },
    [host.id],
  )
  const plan = await timed(() => syncProvider(deps.db))
  const resync = await timed(() => syncProvider(deps.db))
  // The next window that starts after the copies exist (slots before a policy's creation never run).
  const start = CronExpressionParser.parse('0 1 * * *', { tz: serverZone() }).next().getTime()
  const end = CronExpressionParser.parse('0 5 * * *', { tz: serverZone(), currentDate: start })
    .next()
    .getTime()
  const tick = await timed(() => tickScheduler(deps.db, new Date(end)))
  return {
    tenants: ids.length,
    plan: { ms: plan.ms, cpuMs: plan.cpuMs, created: plan.value.created },
    resync: { ms: resync.ms, cpuMs: resync.cpuMs },
    tick: { ms: tick.ms, cpuMs: tick.cpuMs, ...tick.value },
    spread: spreadOf(await queuedRunAts(deps.db), start, (end - start) / MINUTE),
  }
}

/** Baseline: tenant-own daily policies at 03:00, one tick at 05:00, plus plain inserts. */
async function baselineCase(deps: Deps, count: number) {
  const ids = await seedTenants(deps.db, count)
  const rows = ids.map((tenantId) => ({
    tenantId,
    name: 'Own nightly',
    includeHome: true,
    includeGlobs: [],
    excludeGlobs: [],
    includePanelSettings: false,
    schedule: '0 3 * * *',
    timezone: serverZone(),
  }))
  const insertPolicies = await timed(() =>
    transaction(deps.db, () => batch(rows, (c) => deps.db.insert(policies).values(c))),
  )
  const three = CronExpressionParser.parse('0 3 * * *', { tz: serverZone() }).next().getTime()
  const tick = await timed(() => tickScheduler(deps.db, new Date(three + 2 * 60 * MINUTE)))
  const spread = spreadOf(await queuedRunAts(deps.db), three - 2 * 60 * MINUTE, 4 * 60)
  const jobRows = ids.map((tenantId) => ({
    kind: 'backup' as const,
    tenantId,
    payload: { policyId: 0, trigger: 'schedule' },
    runAt: new Date(three),
    dedupeKey: `plain:${tenantId}`,
  }))
  const insertJobs = await timed(() =>
    transaction(deps.db, () => batch(jobRows, (c) => deps.db.insert(jobs).values(c))),
  )
  return { insertPolicies, insertJobs, tick, spread }
}

const ms = (n: number) => `${n.toFixed(0)} ms`
const both = (t: { ms: number; cpuMs: number }) => `${ms(t.ms)}, ${ms(t.cpuMs)} cpu`
const x = (a: number, b: number) => `${(a / b).toFixed(1)}×`
const hhmm = (at: number) => clock(at).slice(0, 5)

/** Runs both cases in fresh data dirs and returns the report. */
export async function benchProviderWindow(log: (msg: string) => void = () => {}): Promise<string> {
  const count = Number(process.env.BENCH_PROVIDER_TENANTS ?? 10_000)
  const run = async <T>(fn: (deps: Deps) => Promise<T>): Promise<T> => {
    const deps = freshDeps()
    try {
      return await fn(deps)
    } finally {
      deps.db.$client.close()
      rmSync(deps.config.dataDir, { recursive: true, force: true })
    }
  }
  const load = loadavg()[0]!
  log(`provider window: ${count} tenants, one all-tenants policy 01:00-05:00`)
  const p = await run((deps) => providerCase(deps, count))
  log('provider window: baseline, the same tenants with their own policies at 03:00')
  const b = await run((deps) => baselineCase(deps, count))
  const s = p.spread
  const bs = b.spread
  return [
    '',
    `Scheduler queueing a window for ${p.tenants} tenants (SQLite, server zone ${serverZone()}, one all-tenants provider policy 01:00-05:00 to one Local provider destination; load ${load.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores)`,
    `  plan: syncProvider, ${p.plan.created} policy copies: ${both(p.plan)}; ${x(p.plan.ms, b.insertPolicies.ms)} inserting ${count} policies plainly (${both(b.insertPolicies)})`,
    `  plan again, nothing changed: ${both(p.resync)}`,
    `  enqueue: one tick at 05:00, ${p.tick.enqueued} jobs: ${both(p.tick)}; ${x(p.tick.ms, b.tick.ms)} the same tick over ${count} tenant-own policies at 03:00 (${both(b.tick)}); ${x(p.tick.ms, b.insertJobs.ms)} inserting ${count} jobs plainly (${both(b.insertJobs)})`,
    `  slots counted missed by that single tick (seen > 1 h late; ticks every 30 s see none): ${p.tick.missed}`,
    `  start times (run_at): earliest ${clock(s.earliest)}, latest ${clock(s.latest)}, outside the window ${s.outside}`,
    `  jobs per minute over the window: busiest ${s.busiest} (${hhmm(s.busiestAt)}), quietest ${s.quietest} (${hhmm(s.quietestAt)}), empty minutes ${s.empty}, mean ${s.mean.toFixed(1)}, max ÷ mean ${s.ratio.toFixed(2)}`,
    `  baseline, own policies at 03:00: earliest ${clock(bs.earliest)}, latest ${clock(bs.latest)}, busiest minute ${bs.busiest}, max ÷ mean over the same 4 h ${bs.ratio.toFixed(1)}`,
  ].join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await benchProviderWindow((m) => process.stderr.write(`bench: ${m}\n`)))
}
