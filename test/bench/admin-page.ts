/**
 * The admin's Tenants page at fleet scale: 10,000 tenants and 200,000 runs seeded through the
 * real schema (migrated database, the panel's own tables), health refreshed for every tenant
 * with the function the runner calls after each run, then the page requested through
 * app.request() with an admin session, like a browser. Prints median and p95 per page against
 * the 100 ms target; never fails on it. BENCH_TENANTS / BENCH_RUNS change the fleet size.
 * Runs inside `npm run bench`, or alone: `node --import tsx test/bench/admin-page.ts`.
 */
import { rmSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { hashPassword } from '../../src/auth/password.ts'
import type { Db } from '../../src/db/client.ts'
import { refreshTenantHealth } from '../../src/db/health.ts'
import { transaction } from '../../src/db/tx.ts'
import {
  destinations,
  policies,
  policyDestinations,
  repositories,
  runs,
  scheduleState,
  tenants,
  verifications,
} from '../../src/db/schema.ts'
import { insertAdmin } from '../../src/db/users.ts'
import type { Deps } from '../../src/web/context.ts'
import { Client, PASSWORD, freshDeps } from '../helpers.ts'
import { between, rng } from './prng.ts'

const HOUR = 3600_000
const TARGET_P95_MS = 100
const REQUESTS = 60

/** How a seeded tenant's history ends; shares roughly like a real fleet with problems. */
type Shape = 'healthy' | 'failing' | 'stale' | 'never'

/**
 * Seeds `tenantCount` tenants (one destination, repository with stored size, policy with a
 * daily slot, schedule state) and `runCount` backup runs spread over them, as the engine
 * leaves them (finished, with reasons on failures), plus test-restore verifications. Then
 * recomputes every tenant's health row. Returns the seconds each phase took.
 */
export async function seedFleet(db: Db, tenantCount: number, runCount: number, now = new Date()) {
  const r = rng('admin-page')
  const t0 = performance.now()
  const shapes: Shape[] = []
  // One transaction of multi-row inserts (500 rows a statement) on either engine. The selects
  // are in the order SQLite's covering indexes gave them when they had no ORDER BY (enabled
  // tenants first), so the fleet stays as it was and PostgreSQL seeds the same one.
  await transaction(db, async () => {
    const batch = async <T>(rows: T[], insert: (chunk: T[]) => PromiseLike<unknown>) => {
      for (let i = 0; i < rows.length; i += 500) await insert(rows.slice(i, i + 500))
    }
    const tenantRows = Array.from({ length: tenantCount }, (_, i) => {
      const name = `t${String(i + 1).padStart(5, '0')}`
      return { name, homeDir: `/home/${name}`, disabled: r() < 0.01 }
    })
    await batch(tenantRows, (rows) => db.insert(tenants).values(rows))
    const ids = (
      await db.select({ id: tenants.id }).from(tenants).orderBy(tenants.disabled, tenants.id)
    ).map((t) => t.id)
    await batch(ids, (chunk) =>
      db.insert(destinations).values(
        chunk.map((tenantId) => ({
          tenantId,
          type: 'local',
          name: 'On this server',
          settings: { folder: 'nightly' },
        })),
      ),
    )
    const dests = await db
      .select({ id: destinations.id, tenantId: destinations.tenantId })
      .from(destinations)
      .orderBy(destinations.tenantId)
    const repoRows = dests.map((d) => ({
      tenantId: d.tenantId,
      destinationId: d.id,
      passwordSealed: 'bench-not-a-real-sealed-password',
      storedBytes: between(r, 0, 50_000_000_000),
      snapshotCount: between(r, 0, 30),
      statsAt: now,
    }))
    await batch(repoRows, (rows) => db.insert(repositories).values(rows))
    const policyRows = ids.map((tenantId) => ({
      tenantId,
      name: 'Nightly',
      includeHome: true,
      includeGlobs: [],
      excludeGlobs: [],
      includePanelSettings: false,
      schedule: `${between(r, 0, 59)} ${between(r, 0, 5)} * * *`,
      timezone: 'UTC',
      enabled: r() > 0.02,
    }))
    await batch(policyRows, (rows) => db.insert(policies).values(rows))
    const pols = await db
      .select({ id: policies.id, tenantId: policies.tenantId })
      .from(policies)
      .orderBy(policies.tenantId)
    const destOf = new Map(dests.map((d) => [d.tenantId, d.id]))
    await batch(pols, (chunk) =>
      db
        .insert(policyDestinations)
        .values(chunk.map((p) => ({ policyId: p.id, destinationId: destOf.get(p.tenantId)! }))),
    )
    await batch(pols, (chunk) =>
      db
        .insert(scheduleState)
        .values(
          chunk.map((p) => ({ policyId: p.id, missedCount: r() < 0.03 ? between(r, 1, 6) : 0 })),
        ),
    )

    for (const _ of ids) {
      const x = r()
      shapes.push(x < 0.05 ? 'failing' : x < 0.08 ? 'stale' : x < 0.1 ? 'never' : 'healthy')
    }
    const perTenant = Math.floor(runCount / tenantCount)
    const runRows: (typeof runs.$inferInsert)[] = []
    ids.forEach((tenantId, i) => {
      const shape = shapes[i]!
      const count = perTenant + (i < runCount % tenantCount ? 1 : 0)
      const failTail = shape === 'failing' ? between(r, 1, 6) : 0
      const newest = shape === 'stale' ? between(r, 60, 300) : between(r, 1, 20)
      for (let k = count - 1; k >= 0; k--) {
        const at = new Date(now.getTime() - (newest + k * 24) * HOUR)
        const failed = shape === 'never' || k < failTail || r() < 0.02
        const status = failed
          ? r() < 0.2
            ? 'interrupted'
            : 'failed'
          : r() < 0.03
            ? 'partial'
            : 'success'
        const error = failed
          ? 'On this server: the destination is out of space (disk full).'
          : status === 'partial'
            ? '1 file(s) could not be read.'
            : null
        runRows.push({
          tenantId,
          kind: 'backup',
          trigger: 'schedule',
          status,
          error,
          bytes: between(r, 0, 5_000_000),
          startedAt: new Date(at.getTime() - 60_000),
          finishedAt: at,
          createdAt: at,
        })
      }
    })
    await batch(runRows, (rows) => db.insert(runs).values(rows))
    const verifyRows = ids
      .filter(() => r() < 0.5)
      .map((tenantId) => ({
        tenantId,
        mode: 'restore' as const,
        ok: r() > 0.05,
        durationMs: between(r, 1000, 60_000),
        createdAt: new Date(now.getTime() - between(r, 1, 24 * 30) * HOUR),
      }))
    await batch(verifyRows, (rows) => db.insert(verifications).values(rows))
  })
  const seededS = (performance.now() - t0) / 1000
  const t1 = performance.now()
  const ids = await db.select({ id: tenants.id }).from(tenants)
  await transaction(db, async () => {
    for (const { id } of ids) await refreshTenantHealth(db, id, now)
  })
  const refreshMs = performance.now() - t1
  return { seededS, refreshS: refreshMs / 1000, perRefreshMs: refreshMs / ids.length }
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!

/** The fleet size: BENCH_TENANTS (default 10,000) and BENCH_RUNS (default 200,000). */
export function fleetSize(): { tenantCount: number; runCount: number } {
  return {
    tenantCount: Number(process.env.BENCH_TENANTS ?? 10_000),
    runCount: Number(process.env.BENCH_RUNS ?? 200_000),
  }
}

/** One page's timing: median and p95 in ms of REQUESTS requests, and the table rows it showed. */
export type PageTiming = { label: string; median: number; p95: number; rows: number }

/** The SQLite timings of this process's last benchAdminPage, for a section to print beside its own. */
export let sqlitePageTimings: PageTiming[] | null = null

const PAGES: [string, string, Record<string, string>?][] = [
  ['default page (all, by name)', '/admin/tenants'],
  [
    'failing, last success desc, page 3',
    '/admin/tenants?filter=failing&sort=last-success&dir=desc&page=3',
  ],
  [
    'same, htmx fragment',
    '/admin/tenants?filter=failing&sort=last-success&dir=desc&page=3',
    { 'hx-request': 'true' },
  ],
  ['all, stored desc, page 150', '/admin/tenants?sort=stored&dir=desc&page=150'],
  ['stale, next run asc', '/admin/tenants?filter=stale&sort=next-run'],
  ['name search "t004"', '/admin/tenants?q=t004&sort=streak&dir=desc'],
]

/**
 * Adds the admin `bench-admin` to the seeded database, signs in and times each Tenants page
 * (5 warm-up requests, then REQUESTS timed ones); throws when a page does not answer 200.
 */
export async function timeTenantsPages(deps: Deps): Promise<PageTiming[]> {
  await insertAdmin(deps.db, 'bench-admin', await hashPassword(PASSWORD))
  const admin = new Client(deps)
  await admin.login('bench-admin')
  const timings: PageTiming[] = []
  for (const [label, path, headers] of PAGES) {
    for (let i = 0; i < 5; i++) await admin.get(path, headers) // warm statement caches
    const times: number[] = []
    let rows = 0
    for (let i = 0; i < REQUESTS; i++) {
      const start = performance.now()
      const res = await admin.get(path, headers)
      times.push(performance.now() - start)
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`)
      rows = (res.body.match(/<tr/g) ?? []).length - 1
    }
    times.sort((a, b) => a - b)
    timings.push({ label, median: quantile(times, 0.5), p95: quantile(times, 0.95), rows })
  }
  return timings
}

/** The line under a table of timings: whether the worst p95 met the 100 ms target. */
export function targetLine(timings: PageTiming[]): string {
  const worst = Math.max(...timings.map((t) => t.p95))
  return `  target p95 < ${TARGET_P95_MS} ms: ${worst < TARGET_P95_MS ? 'met' : 'NOT met'} (worst p95 ${worst.toFixed(1)} ms)`
}

/** Seeds the fleet in a fresh data dir, signs in as admin and times each page. Returns the report. */
export async function benchAdminPage(log: (msg: string) => void = () => {}): Promise<string> {
  const { tenantCount, runCount } = fleetSize()
  const deps = freshDeps()
  log(`admin page: seeding ${tenantCount} tenants and ${runCount} runs`)
  const seed = await seedFleet(deps.db, tenantCount, runCount)
  const timings = await timeTenantsPages(deps)
  sqlitePageTimings = timings
  const lines = [
    '',
    `Admin > Tenants page: ${tenantCount} tenants, ${runCount} runs (SQLite, app.request with an admin session, ${REQUESTS} requests each)`,
    `  seeding ${seed.seededS.toFixed(1)} s; health refresh for every tenant ${seed.refreshS.toFixed(1)} s (${seed.perRefreshMs.toFixed(2)} ms per tenant, the cost after each run)`,
    '  page                                   median      p95   rows',
    ...timings.map(
      (t) =>
        `  ${t.label.padEnd(36)} ${t.median.toFixed(1).padStart(7)} ms ${t.p95.toFixed(1).padStart(6)} ms ${String(t.rows).padStart(5)}`,
    ),
    targetLine(timings),
  ]
  deps.db.$client.close()
  rmSync(deps.config.dataDir, { recursive: true, force: true })
  return lines.join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await benchAdminPage((m) => process.stderr.write(`bench: ${m}\n`)))
}
