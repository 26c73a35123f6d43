/**
 * `npm run bench`: the panel's backup and restore against stock restic (and tar+zstd) on the
 * same generated tenant home, in one run. Prints timings and ratios; never passes or fails on
 * a threshold. BENCH_SCALE (default 1) scales the dataset, 0.05 for a quick look;
 * BENCH_ROUNDS (default 1) repeats every case from fresh repositories and prints medians.
 * The panel's first and no-change backups are also timed to each remote destination type on
 * its loopback server (remotes.ts), as ratios to the Local ones.
 * Sections: core (the above), admin-page, restore-browse, provider-window, throughput, postgres
 * (a queue drain by 1 and 4 runner processes, and Admin > Tenants, on a throwaway PostgreSQL);
 * all by default, or some with `npm run bench -- --only throughput,admin-page` (or BENCH_ONLY=…).
 * Each section ends with the load average (1/5/15 min) at its start and end.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { generateDataset } from './dataset.ts'
import { Interrupted, stopStarted } from './measure.ts'
import {
  addPolicy,
  addSystemUser,
  addTenant,
  chownTo,
  panelCli,
  removeSystemUser,
  type Panel,
} from './panel.ts'
import { runRemotes, type RemoteResult } from './remote-round.ts'
import { remoteFailed, remoteSummary } from './remote-report.ts'
import { remoteAvailability } from './remotes.ts'
import { summary, type Round } from './report.ts'
import { runRound } from './round.ts'
import { digestTree } from './tree.ts'
import { benchAdminPage } from './admin-page.ts'
import { benchRestoreBrowse } from './restore-browse.ts'
import { benchProviderWindow } from './provider-window.ts'
import { benchThroughput } from './throughput.ts'
import { benchPostgres } from './postgres-bench.ts'
import { load } from './throughput-report.ts'

const SECTIONS = [
  'core',
  'admin-page',
  'restore-browse',
  'provider-window',
  'throughput',
  'postgres',
]
const onlyAt = process.argv.indexOf('--only')
const only = (onlyAt >= 0 ? process.argv[onlyAt + 1] : process.env.BENCH_ONLY) || SECTIONS.join(',')
const selected = new Set(only.split(',').map((s) => s.trim()))
for (const name of selected)
  if (!SECTIONS.includes(name))
    throw new Error(`--only: unknown section "${name}" (one of ${SECTIONS.join(', ')})`)

const scale = Number(process.env.BENCH_SCALE ?? 1)
const rounds = Number(process.env.BENCH_ROUNDS ?? 1)
if (!(scale > 0))
  throw new Error(`BENCH_SCALE must be a positive number, not "${process.env.BENCH_SCALE}"`)
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error('BENCH_ROUNDS must be a whole number ≥ 1')
// Generous: a timeout only exists so a hung command cannot keep the benchmark (and its temp
// data and system user) around forever.
const timeoutMs = Math.max(300_000, 1_800_000 * scale)
const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`)
const message = (err: unknown) => (err instanceof Error ? err.message : String(err))

const cleanups: (() => void)[] = []
function cleanUp() {
  for (const step of cleanups.splice(0).reverse()) {
    try {
      step()
    } catch (err) {
      log(`cleanup: ${message(err)}`)
    }
  }
}
// On SIGINT/SIGTERM: stop what we started (userdel refuses while the tenant's restic still
// runs), let main() unwind at its next command, then clean up.
let interrupted: Promise<void> | null = null
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the commands this benchmark started, then cleaning up`)
    interrupted ??= stopStarted()
  })
}
// Also on a crash: 'exit' still fires, and every cleanup step is synchronous.
process.once('exit', cleanUp)

const root = mkdtempSync(join(tmpdir(), 'panel-bench-'))
cleanups.push(() => rmSync(root, { recursive: true, force: true }))
try {
  await main(root)
} catch (err) {
  if (!(err instanceof Interrupted)) throw err
} finally {
  if (interrupted) await interrupted
  cleanUp()
}
if (interrupted) process.exitCode = 130

async function main(root: string) {
  /** Runs one selected section and prints its report, then its load line. */
  const section = async (name: string, run: () => Promise<string | boolean>) => {
    if (!selected.has(name)) return
    const start = load()
    const out = await run()
    if (typeof out === 'string') console.log(out)
    else if (out) process.exitCode = 1 // the section failed
    console.log(`  [${name}] load average (1/5/15 min): start ${start} → end ${load()}`)
  }
  await section('core', () => core(root))
  await section('admin-page', () => benchAdminPage(log)) // Admin > Tenants at 10,000 tenants
  await section('restore-browse', () => benchRestoreBrowse(log)) // a 20,000-file snapshot
  await section('provider-window', () => benchProviderWindow(log)) // a window for 10,000 tenants
  await section('throughput', () => benchThroughput(log)) // 50 small + 10 bench-size tenants
  await section('postgres', () => benchPostgres(log)) // queue drain and admin page on PostgreSQL
}

/** The panel against direct restic and tar on one tenant; true when something failed. */
async function core(root: string): Promise<boolean> {
  const loadStart = loadavg()[0]!
  // Before any work: under CI=true a missing remote server fails the run here.
  const remotes = remoteAvailability(log)
  // The tenant's user must be able to reach its home inside our temp dir.
  chmodSync(root, 0o711)
  const home = join(root, 'home')
  mkdirSync(home)
  log(`generating the dataset at scale ${scale}`)
  const genStart = performance.now()
  const data = generateDataset(home, scale)
  const { digest } = await digestTree(home)
  const genMs = performance.now() - genStart

  // Setup is untimed; when it fails, every panel cell shows why.
  const panel = panelCli(root)
  let panelProblem: string | null = null
  let systemUser: string | null = null
  try {
    if (process.getuid?.() === 0) {
      const name = addSystemUser()
      systemUser = name
      cleanups.push(() => removeSystemUser(name))
      chownTo(name, home)
    }
    await addTenant(panel, home, systemUser)
    await addPolicy(panel, 'Local', 'repo', 'Bench')
  } catch (err) {
    if (err instanceof Interrupted) throw err
    panelProblem = `panel setup failed: ${message(err)}`
  }

  const results: Round[] = []
  const remoteResults: RemoteResult[][] = []
  for (let n = 1; n <= rounds; n++) {
    results.push(await runRound({ root, home, data, panel, panelProblem, timeoutMs, log }, n))
    remoteResults.push(await runRemotes({ panel, panelProblem, timeoutMs, log }, remotes, n))
  }

  console.log(
    summary({
      scale,
      data,
      digest,
      genMs,
      restic: execFileSync('restic', ['version'], { encoding: 'utf8' }).trim(),
      systemUser,
      load: { start: loadStart, end: loadavg()[0]! },
      cli: panelProblem ? null : await cliStartup(panel),
      rounds: results,
      sections: [remoteSummary(remoteResults, results)],
    }),
  )
  const failed = results.some(
    (r) =>
      Object.values(r.cases).some((c) =>
        [c.panel, c.restic, c.tar].some((x) => x && 'error' in x),
      ) || r.checks.some((c) => c.includes('DIFFERS')),
  )
  return failed || remoteFailed(remoteResults)
}

/** Median wall time of `panel help` (start-up only) and `panel tenant list` (plus the database). */
async function cliStartup(panel: Panel) {
  const median = async (args: string[]) => {
    const times: number[] = []
    for (let i = 0; i < 3; i++) times.push((await panel.cli(args, { timeoutMs: 60_000 })).ms)
    return times.sort((a, b) => a - b)[1]!
  }
  return { help: await median(['help']), list: await median(['tenant', 'list', '--json']) }
}
