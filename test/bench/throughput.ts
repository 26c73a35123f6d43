/**
 * Issue 13, per-backup overhead at fleet scale. Real system users (panel-bt-sNN small,
 * panel-bt-bNN bench-size), each with its home, a panel tenant with a Local destination and
 * policy, and a direct restic repository of its own. After untimed initial backups, no-change
 * backups of each group are queued at once for the runner inside a real `panel serve` (default
 * concurrency: cores), then run by a direct `restic backup` loop as the same users at the same
 * concurrency. Prints tenants per hour of both and the ratio, beside the goals. Then the tenant
 * Overview, Restore and admin Tenants pages are sampled over HTTP with signed-in sessions,
 * idle (the baseline) and while the runner backs up every tenant, p50/p95 against 50 ms.
 * Sizes: BENCH_SMALL_TENANTS (50), BENCH_BIG_TENANTS (10), BENCH_BIG_SCALE (1: the 20,000-file
 * dataset), BENCH_PAGE_SECONDS (30, each of idle and busy). Users and files are removed at the
 * end, also on failure. Inside `npm run bench` (alone: `npm run bench -- --only throughput`), or
 * `node --import tsx test/bench/throughput.ts`.
 */
import { rmSync, mkdtempSync, chmodSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { hashPassword } from '../../src/auth/password.ts'
import { loadConfig } from '../../src/config.ts'
import { openDb } from '../../src/db/client.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { generateDataset, type Dataset } from './dataset.ts'
import { addFleetTenant, removeUser, TENANT_PASSWORD, type FleetTenant } from './fleet.ts'
import { signIn } from './http-session.ts'
import { Interrupted, stopStarted } from './measure.ts'
import { panelCli } from './panel.ts'
import { startServe, type PanelServe } from './panel-serve.ts'
import { pageRows, samplePages, type PageTarget } from './page-sampler.ts'
import { directPass, panelPass, type Pass } from './throughput-run.ts'
import { load, throughputRows, type GroupResult } from './throughput-report.ts'

const ADMIN = 'bench-admin'
const PAGE_TARGET_MS = 50
const SMALL_SCALE = 0.015 // ~300 small files, one 3 MB media file, a 1.5 MB dump

function count(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0`)
  return n
}

/** Runs the section in its own temp dir; cleans up users and files whatever happens. */
export async function benchThroughput(log: (msg: string) => void = () => {}): Promise<string> {
  const smallCount = count('BENCH_SMALL_TENANTS', 50)
  const bigCount = count('BENCH_BIG_TENANTS', 10)
  const bigScale = Number(process.env.BENCH_BIG_SCALE ?? 1)
  const pageMs = Number(process.env.BENCH_PAGE_SECONDS ?? 30) * 1000
  if (process.getuid?.() !== 0) return '\nThroughput: skipped, it needs root (useradd, setpriv).'
  const startLoad = load()
  const root = mkdtempSync(join(tmpdir(), 'panel-bench-tp-'))
  chmodSync(root, 0o711) // tenants' users reach their homes and repositories inside
  const users: string[] = []
  let serve: PanelServe | null = null
  let closeDb = () => {}
  const cleanUp = () => {
    closeDb()
    for (const u of users.splice(0)) {
      try {
        removeUser(u)
      } catch (err) {
        log(`cleanup: userdel ${u}: ${(err as Error).message}`)
      }
    }
    rmSync(root, { recursive: true, force: true })
  }
  process.once('exit', cleanUp) // a crash: every step above is synchronous
  try {
    const panel = panelCli(root)
    const config = loadConfig(panel.env)
    const db = openDb(config.dbPath)
    closeDb = () => db.$client.open && db.$client.close()
    const deps = { db, secretKey: config.secretKey, drivers }
    await insertAdmin(db, ADMIN, await hashPassword(TENANT_PASSWORD))

    log(`throughput: generating the small and bench-size (scale ${bigScale}) homes`)
    const smallData = generateDataset(join(root, 'tpl-small'), SMALL_SCALE)
    const bigData = bigCount ? generateDataset(join(root, 'tpl-big'), bigScale) : smallData
    const add = async (n: number, prefix: string, data: Dataset) => {
      const out: FleetTenant[] = []
      for (let i = 1; i <= n; i++) {
        const name = `panel-bt-${prefix}${String(i).padStart(2, '0')}`
        out.push(await addFleetTenant(deps, root, data.home, name, (u) => users.push(u)))
      }
      return out
    }
    log(`throughput: adding ${smallCount} small and ${bigCount} bench-size tenants`)
    const small = await add(smallCount, 's', smallData)
    const big = await add(bigCount, 'b', bigData)
    const all = [...small, ...big]
    const concurrency = availableParallelism()
    const timeoutMs = Math.max(600_000, all.length * 120_000 * Math.max(1, bigScale))
    serve = await startServe(panel)

    log('throughput: initial backups (untimed), panel then direct restic')
    const firsts = [
      await panelPass(db, all, timeoutMs),
      await directPass(all, concurrency, timeoutMs),
    ]
    const broken = firsts.flatMap((p) => p.failures)
    if (broken.length) throw new Error(`initial backups failed: ${broken.slice(0, 3).join('; ')}`)

    const groups: GroupResult[] = []
    const group = async (label: string, list: FleetTenant[], data: Dataset, goal: number) => {
      if (!list.length) return
      log(`throughput: no-change backups of ${list.length} ${label} tenants, panel then direct`)
      const start = load()
      const panelRun = await panelPass(db, list, timeoutMs)
      const direct = await directPass(list, concurrency, timeoutMs)
      groups.push({
        label,
        count: list.length,
        data,
        goalPerHour: goal,
        panel: panelRun,
        direct,
        load: { start, end: load() },
      })
    }
    await group('small', small, smallData, 10_000)
    await group('bench-size', big, bigData, 1_000)

    if (groups.some((g) => g.panel.failures.length || g.direct.failures.length))
      process.exitCode = 1
    const pages = await samplePagesPhase(serve.url, all, pageMs, (list) =>
      panelPass(db, list, timeoutMs),
    )
    return [
      '',
      `Throughput: no-change backups queued at once; panel serve's runner at its default concurrency (${concurrency} = cores) vs a direct restic loop, ${concurrency} at a time, as the same users; one Local repository per tenant (load 1/5/15 min at start ${startLoad})`,
      ...throughputRows(groups),
      '',
      `Pages while busy: signed in over HTTP to the same panel serve, each page every ~75 ms; idle ${pageMs / 1000} s (baseline), then busy while its runner backs up all ${all.length} tenants (${pages.passes} pass(es), ${pages.busyS.toFixed(0)} s${pages.failures ? `, ${pages.failures} backups FAILED` : ''}); load ${pages.load.start} → ${pages.load.end}`,
      ...pageRows(pages.idle, pages.busy, PAGE_TARGET_MS),
      `  load (1/5/15 min) at the end of the section: ${load()}`,
    ].join('\n')
  } finally {
    await serve?.stop()
    cleanUp()
    process.off('exit', cleanUp)
  }
}

/**
 * Signs in as the first tenant and as the admin, samples the pages idle for `ms`, then again
 * while `pass` backs up every tenant, passes repeated until `ms` has gone by.
 */
async function samplePagesPhase(
  url: string,
  all: FleetTenant[],
  ms: number,
  pass: (list: FleetTenant[]) => Promise<Pass>,
) {
  const tenant = await signIn(url, all[0]!.name, TENANT_PASSWORD)
  const admin = await signIn(url, ADMIN, TENANT_PASSWORD)
  const targets: PageTarget[] = [
    { label: 'tenant Overview', session: tenant, path: '/backups' },
    { label: 'tenant Restore', session: tenant, path: '/backups/restore' },
    { label: 'admin Tenants', session: admin, path: '/admin/tenants' },
  ]
  const idleSampler = samplePages(targets)
  await new Promise((r) => setTimeout(r, ms))
  const idle = await idleSampler.stop()
  const start = load()
  const busySampler = samplePages(targets)
  const began = Date.now()
  let passes = 0
  let failures = 0
  do {
    failures += (await pass(all)).failures.length
    passes++
  } while (Date.now() - began < ms)
  const busy = await busySampler.stop()
  const busyS = (Date.now() - began) / 1000
  return { idle, busy, passes, failures, busyS, load: { start, end: load() } }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void stopStarted()) // the awaits reject; finally cleans up
  try {
    console.log(await benchThroughput((m) => process.stderr.write(`bench: ${m}\n`)))
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err
    process.exitCode = 130
  }
}
