/**
 * `npm run bench`: the panel's backup and restore against stock restic (and tar+zstd) on the
 * same generated tenant home, in one run. Prints timings and ratios; never passes or fails on
 * a threshold. BENCH_SCALE (default 1) scales the dataset: 0.05 for a quick look.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { directRestic, resticAt, tarZstd, type DirectRestic } from './baselines.ts'
import { changeSmallFiles, generateDataset } from './dataset.ts'
import { Interrupted, failure, measure, stopStarted, type Measured } from './measure.ts'
import {
  addSystemUser,
  chownTo,
  lastRunTiming,
  panelCli,
  removeSystemUser,
  setUpTenant,
  type Panel,
} from './panel.ts'
import { seconds, summary, type Breakdown, type Cell, type Row } from './report.ts'
import { digestTree } from './tree.ts'

const scale = Number(process.env.BENCH_SCALE ?? 1)
if (!(scale > 0))
  throw new Error(`BENCH_SCALE must be a positive number, not "${process.env.BENCH_SCALE}"`)
// Generous: a timeout only exists so a hung command cannot keep the benchmark (and its temp
// data and system user) around forever.
const timeoutMs = Math.max(300_000, 1_800_000 * scale)
const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`)
const message = (err: unknown) => (err instanceof Error ? err.message : String(err))
// Before each timed command: write back what earlier steps left dirty, so no case pays for
// the previous one's writes (the panel's restore writes the tree twice, for one).
const settle = () => execFileSync('sync')
const ok = (c: Cell): c is { ms: number } => Boolean(c && 'ms' in c)

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
  const loadStart = loadavg()[0]!
  // The tenant's user must be able to reach its home inside our temp dir.
  chmodSync(root, 0o711)
  const home = join(root, 'home')
  mkdirSync(home)
  log(`generating the dataset at scale ${scale}`)
  const genStart = performance.now()
  const data = generateDataset(home, scale)
  const generated = await digestTree(home)
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
    await setUpTenant(panel, home, systemUser)
  } catch (err) {
    if (err instanceof Interrupted) throw err
    panelProblem = `panel setup failed: ${message(err)}`
  }
  let direct: DirectRestic | null = null
  let directProblem = 'restic unavailable'
  const initStart = performance.now()
  try {
    direct = await directRestic(root, timeoutMs)
  } catch (err) {
    if (err instanceof Interrupted) throw err
    directProblem = message(err)
  }
  const initMs = performance.now() - initStart

  const breakdowns: Breakdown[] = []
  const peaks = { panel: 0, panelRestic: 0, restic: 0 }
  const panelCase = async (name: string, args: string[], skip?: string): Promise<Cell> => {
    const problem = panelProblem ?? skip
    if (problem) return { error: problem }
    log(`${name}: panel ${args.join(' ')}`)
    settle()
    try {
      const m = await panel.cli(args, { timeoutMs })
      const resticPeak = m.peaks.children.restic ?? 0
      breakdowns.push({
        name,
        wallMs: m.ms,
        started: m.started,
        ended: m.ended,
        timing: timing(panel, m.started),
        peak: m.peaks.self,
        resticPeak,
      })
      peaks.panel = Math.max(peaks.panel, m.peaks.self)
      peaks.panelRestic = Math.max(peaks.panelRestic, resticPeak)
      return m.code === 0 ? { ms: m.ms } : { error: failure(m, `panel ${args[0]}`) }
    } catch (err) {
      if (err instanceof Interrupted) throw err
      return { error: `panel ${args[0]}: ${message(err)}` }
    }
  }
  const directCase = async (name: string, run: (d: DirectRestic) => Promise<Measured>) => {
    if (!direct) return { error: directProblem }
    log(`${name}: restic direct`)
    settle()
    const m = await run(direct)
    peaks.restic = Math.max(peaks.restic, m.peaks.self)
    return m.code === 0 ? { ms: m.ms } : { error: failure(m, 'restic') }
  }
  const row = (name: string): Row => ({ name, panel: null, restic: null, tar: null })
  const backup = ['backup', 'bench', '--wait', '--json']

  const first = row('first backup')
  first.panel = await panelCase(first.name, backup)
  first.restic = await directCase(first.name, (d) => d.backup([home]))
  log('first backup: tar | zstd')
  settle()
  const tar = await tarZstd(home, join(root, 'home.tar.zst'))
  first.tar = tar.code === 0 ? { ms: tar.ms } : { error: failure(tar, 'tar | zstd') }
  rmSync(join(root, 'home.tar.zst'), { force: true })

  const noFirst = ok(first.panel) ? undefined : 'skipped: the panel’s first backup failed'
  const same = row('no-change backup')
  same.panel = await panelCase(same.name, backup, noFirst)
  same.restic = await directCase(same.name, (d) => d.backup([home]))

  const changedFiles = changeSmallFiles(data, 0.01, 'one-percent')
  const changed = await digestTree(home)
  const some = row('1% changed')
  some.panel = await panelCase(some.name, backup, noFirst)
  some.restic = await directCase(some.name, (d) => d.backup([home]))

  const noBackup = [first, same, some].some((r) => ok(r.panel))
    ? undefined
    : 'skipped: no panel backup succeeded'
  const restore = row('full restore')
  const restoreArgs = ['restore', 'bench', 'latest', '--to', 'restored-1', '--wait', '--json']
  restore.panel = await panelCase(restore.name, restoreArgs, noBackup)
  const target = join(root, 'restored-direct')
  restore.restic = await directCase(restore.name, (d) => d.restore(target))

  // A restore is only worth timing if it gives back the bytes that were backed up.
  const checks: string[] = []
  for (const [label, dir, cell] of [
    ['panel restore', join(home, 'restored-1'), restore.panel],
    ['restic restore', join(target, home), restore.restic],
  ] as const) {
    if (!ok(cell)) continue
    const got = await digestTree(dir).catch(() => null)
    checks.push(
      got?.digest === changed.digest
        ? `${label}: identical to the backed-up home`
        : `${label}: DIFFERS from the backed-up home (${got?.files ?? 0} files, digest ` +
            `${got?.digest ?? 'unreadable'}, expected ${changed.digest})`,
    )
  }

  // References for the breakdown: what a panel restore adds (a copy out of staging), and the
  // same restore of the panel's own repository by stock restic, without the bridge.
  let copy = ''
  if (ok(restore.restic)) {
    mkdirSync(join(root, 'copy-reference'))
    settle()
    const cp = await measure('cp', [
      '-a',
      '--',
      `${join(target, home)}/.`,
      join(root, 'copy-reference'),
    ])
    copy = `; cp -a of the restored tree ${seconds(cp.ms)}`
  }
  if (ok(restore.panel)) copy += await restoreWithoutBridge(panel, root)
  const directTime = (r: Row) => `restic direct ${ok(r.restic) ? seconds(r.restic.ms) : 'n/a'}`
  const references = {
    [first.name]: `${directTime(first)}; restic init took ${seconds(initMs)} (untimed for direct, inside the panel's snapshot stage)`,
    [same.name]: directTime(same),
    [some.name]: directTime(some),
    [restore.name]: `${directTime(restore)} into an empty folder${copy}; the panel restores into staging, then copies into the home`,
  }

  console.log(
    summary({
      scale,
      data,
      digests: { generated: generated.digest, changed: changed.digest },
      genMs,
      changedFiles,
      restic: execFileSync('restic', ['version'], { encoding: 'utf8' }).trim(),
      systemUser,
      load: { start: loadStart, end: loadavg()[0]! },
      cli: panelProblem ? null : await cliStartup(panel),
      rows: { first, same, some, restore },
      peaks,
      breakdowns,
      references,
      checks,
    }),
  )
  const cells = [first, same, some, restore].flatMap((r) => [r.panel, r.restic, r.tar])
  if (cells.some((c) => c && 'error' in c) || checks.some((c) => c.includes('DIFFERS'))) {
    process.exitCode = 1
  }
}

/** The newest run's timing if it was queued at or after `since` (by this command), else null. */
function timing(panel: Panel, since: number) {
  try {
    const t = lastRunTiming(panel)
    return t && t.queuedAt >= since ? t : null
  } catch (err) {
    log(`could not read the run's stages: ${message(err)}`)
    return null
  }
}

/** `restic restore latest` of the panel's repository (from its recovery kit), straight from disk. */
async function restoreWithoutBridge(panel: Panel, root: string): Promise<string> {
  const kit = await panel.cli(['recovery-kit', 'bench', '--destination', 'Local', '--json'])
  if (kit.code !== 0) return `; ${failure(kit, 'panel recovery-kit')}`
  const { repository, password } = JSON.parse(kit.stdout) as {
    repository: string
    password: string
  }
  const restic = resticAt(repository, password, join(root, 'kit-cache'), timeoutMs)
  settle()
  const m = await restic.restore(join(root, 'restored-kit'))
  if (m.code !== 0) return `; ${failure(m, 'restic restore of the panel repository')}`
  return `; stock restic restoring the panel's own repository from disk ${seconds(m.ms)}`
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
