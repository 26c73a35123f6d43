/**
 * The Restore page on a 20,000-file snapshot: a real tenant (system user when root), a real
 * restic backup, then the browse page requested through app.request() with the tenant's
 * session, like a browser: the first open (which builds the snapshot's file index with one
 * `restic ls`), folder opens (full page and htmx fragment) and searches by file name, median
 * and p95 against the 50 ms target. The baseline, measured in the same run, is what every click
 * cost before the index: one `restic ls` of the folder through the storage bridge.
 * BENCH_BROWSE_FILES changes the size. Runs inside `npm run bench`, or alone:
 * `node --import tsx test/bench/restore-browse.ts`.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { Client, freshDeps } from '../helpers.ts'
import { localDestination, policy, realTenant, removeUsers, waitJob } from '../support/tenants.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { catalogOf } from '../../src/db/snapshots.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { withRepository } from '../../src/engine/restic/snapshots.ts'
import { resticJson } from '../../src/engine/restic/restic.ts'
import { between, rng } from './prng.ts'

const TARGET_P95_MS = 50
const REQUESTS = 60

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

/** A site-like tree: uploads/<year>/<month>/, a few code folders, `files` files in all. */
function writeTree(home: string, files: number): string[] {
  const dirs = new Set<string>()
  const random = rng('restore-tree')
  for (let i = 0; i < files; i++) {
    const year = 2019 + (i % 7)
    const month = String(1 + (Math.floor(i / 7) % 12)).padStart(2, '0')
    const dir =
      i % 5 === 0
        ? `public_html/wp-content/plugins/plugin-${i % 40}/inc`
        : `public_html/wp-content/uploads/${year}/${month}`
    const abs = join(home, dir)
    if (!dirs.has(dir)) {
      mkdirSync(abs, { recursive: true })
      dirs.add(dir)
    }
    writeFileSync(
      join(
        abs,
        `${i % 5 === 0 ? 'class' : 'photo'}-${i}-${between(random, 1000, 9999)}.${i % 5 === 0 ? 'php' : 'jpg'}`,
      ),
      `#${i}\n`,
    )
  }
  return [...dirs]
}

export async function benchRestoreBrowse(log: (msg: string) => void = () => {}): Promise<string> {
  const fileCount = Number(process.env.BENCH_BROWSE_FILES ?? 20_000)
  const deps = freshDeps()
  try {
    const t = await realTenant(deps, 'browse')
    log(`restore page: writing ${fileCount} files and backing them up`)
    const dirs = writeTree(t.home, fileCount)
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', `${t.uid}:${t.gid}`, t.home])
    const dest = await localDestination(deps, t.tenant.id)
    const policyId = await policy(deps, t.tenant.id, [dest.id])
    const runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 50,
      onError: () => {},
    })
    try {
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      runner.wake()
      const done = await waitJob(deps, t.tenant.id, job.id, 600_000)
      if (done.status !== 'done') throw new Error(`the backup failed: ${done.lastError}`)
    } finally {
      await runner.stop()
    }
    const snap = (await catalogOf(deps.db, t.tenant.id, dest.id))[0]!
    const base = `/backups/restore/${dest.id}/${snap.snapshotId}`
    const c = new Client(deps)
    await c.login('browse')
    const firstStart = performance.now()
    const first = await c.get(base)
    const firstMs = performance.now() - firstStart
    if (first.status !== 200) throw new Error(`${base} answered ${first.status}`)

    const random = rng('restore-clicks')
    const pick = () => join(t.home, dirs[between(random, 0, dirs.length - 1)]!)
    const time = async (path: string, headers: Record<string, string> = {}) => {
      const start = performance.now()
      const res = await c.get(path, headers)
      const ms = performance.now() - start
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`)
      return ms
    }
    const series = async (make: () => string, headers?: Record<string, string>) => {
      for (let i = 0; i < 5; i++) await time(make(), headers) // warm statement caches
      const times: number[] = []
      for (let i = 0; i < REQUESTS; i++) times.push(await time(make(), headers))
      return times.sort((a, b) => a - b)
    }
    const folder = () => `${base}?dir=${encodeURIComponent(pick())}`
    const terms = ['photo-1', 'class-2', '.php', 'photo-19', 'plugin', 'nothing-matches-this']
    const search = () =>
      `${base}?q=${encodeURIComponent(terms[between(random, 0, terms.length - 1)]!)}`
    const full = await series(folder)
    const fragment = await series(folder, { 'hx-request': 'true' })
    const found = await series(search)

    // Baseline: what a folder click cost before the index (one restic ls through the bridge).
    const d = await getDestination(deps.db, t.tenant.id, dest.id)
    const ls: number[] = []
    for (let i = 0; i < 5; i++) {
      const dir = pick()
      const start = performance.now()
      await withRepository(deps, t.tenant, d, (repo) =>
        resticJson(['ls', snap.snapshotId, dir], repo.env),
      )
      ls.push(performance.now() - start)
    }
    ls.sort((a, b) => a - b)
    const lsMedian = quantile(ls, 0.5)

    const row = (label: string, times: number[]) =>
      `  ${label.padEnd(34)} ${quantile(times, 0.5).toFixed(1).padStart(7)} ms ${quantile(times, 0.95).toFixed(1).padStart(7)} ms ${(lsMedian / quantile(times, 0.5)).toFixed(0).padStart(6)}x`
    const worst = Math.max(quantile(full, 0.95), quantile(fragment, 0.95), quantile(found, 0.95))
    return [
      '',
      `Restore page on a ${fileCount.toLocaleString('en')}-file snapshot (${dirs.length} folders; app.request with the tenant's session, ${REQUESTS} requests each)`,
      `  first open, building the file index: ${firstMs.toFixed(0)} ms (once per snapshot)`,
      `  baseline, one restic ls per folder click (before the index): median ${lsMedian.toFixed(0)} ms`,
      '  request                            median      p95  vs baseline',
      row('open a folder (full page)', full),
      row('open a folder (htmx fragment)', fragment),
      row('search by file name', found),
      `  target p95 < ${TARGET_P95_MS} ms: ${worst < TARGET_P95_MS ? 'met' : 'NOT met'} (worst p95 ${worst.toFixed(1)} ms)`,
    ].join('\n')
  } finally {
    removeUsers()
    deps.db.$client.close()
    rmSync(deps.config.dataDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await benchRestoreBrowse((m) => process.stderr.write(`bench: ${m}\n`)))
}
