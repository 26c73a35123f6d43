import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { directRestic, resticAt, tarZstd, type DirectRestic } from './baselines.ts'
import { changeSmallFiles, type Dataset } from './dataset.ts'
import { Interrupted, failure, measure, type Measured } from './measure.ts'
import { addPolicy, lastRunTiming, type Panel } from './panel.ts'
import { ok, seconds, type CaseName, type CaseResult, type Round } from './report.ts'
import { digestTree } from './tree.ts'

/** What every round shares: the generated home, the panel with its tenant, the limits. */
export type Bench = {
  root: string
  home: string
  data: Dataset
  panel: Panel
  /** Why the panel cannot run at all (setup failed), shown in every panel cell. */
  panelProblem: string | null
  timeoutMs: number
  log: (msg: string) => void
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err))

// Before each timed command: write back what earlier steps left dirty, so no case pays for
// the previous one's writes. Before a restore (`cold`), also empty the page cache (as root) and
// let the disk finish discarding what the previous restore's removal freed: otherwise the
// second restore of a pair reads a warm repository or writes onto a busy disk, and the same
// restore varies from 3 to 12 s on this kind of machine.
const settle = (cold = false) => {
  execFileSync('sync')
  if (!cold) return
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3')
  } catch {
    return // not root: warm caches, noisier numbers
  }
  execFileSync('sleep', ['3'])
}

/**
 * One round: first backup into fresh repositories (the panel's own destination and policy for
 * this round, and a new plain restic repository), a no-change backup, 1% of the small files
 * rewritten and backed up, then a full restore by each, checked byte for byte. The restored
 * copies are removed afterwards so the next round starts from the same home plus its changes.
 */
export async function runRound(b: Bench, n: number): Promise<Round> {
  const { root, home, panel, log } = b
  const dest = n === 1 ? 'Local' : `Local-${n}`
  const policy = n === 1 ? 'Bench' : `Bench-${n}`
  let panelProblem = b.panelProblem
  if (!panelProblem && n > 1) {
    await addPolicy(panel, dest, `repo-${n}`, policy).catch((err) => {
      if (err instanceof Interrupted) throw err
      panelProblem = `panel setup failed: ${message(err)}`
    })
  }
  let direct: DirectRestic | null = null
  let directProblem = 'restic unavailable'
  const initStart = performance.now()
  try {
    direct = await directRestic(root, n, b.timeoutMs)
  } catch (err) {
    if (err instanceof Interrupted) throw err
    directProblem = message(err)
  }
  const initMs = performance.now() - initStart

  const cases = {} as Record<CaseName, CaseResult>
  const runCase = async (
    name: CaseName,
    args: string[] | string,
    run: (d: DirectRestic) => Promise<Measured>,
  ) => {
    const c: CaseResult = { panel: null, restic: null, tar: null }
    cases[name] = c
    if (typeof args === 'string' || panelProblem) c.panel = { error: panelProblem ?? String(args) }
    else {
      log(`round ${n}, ${name}: panel ${args.join(' ')}`)
      settle(name === 'full restore')
      try {
        const m = await panel.cli(args, { timeoutMs: b.timeoutMs })
        c.panelRun = { m, timing: timing(panel, m.started, log) }
        c.panel = m.code === 0 ? { ms: m.ms } : { error: failure(m, `panel ${args[0]}`) }
      } catch (err) {
        if (err instanceof Interrupted) throw err
        c.panel = { error: `panel ${args[0]}: ${message(err)}` }
      }
    }
    if (!direct) c.restic = { error: directProblem }
    else {
      log(`round ${n}, ${name}: restic direct`)
      settle(name === 'full restore')
      const m = await run(direct)
      c.resticRun = m
      c.restic = m.code === 0 ? { ms: m.ms } : { error: failure(m, 'restic') }
    }
    return c
  }

  const backup = ['backup', 'bench', '--policy', policy, '--wait', '--json']
  const first = await runCase('first backup', backup, (d) => d.backup([home]))
  // Both first backups create their repository: the panel inits inside its snapshot stage.
  if (first.restic && 'ms' in first.restic) first.restic.ms += initMs
  first.note = `both include creating the repository (direct restic init: ${seconds(initMs)})`
  log(`round ${n}, first backup: tar | zstd`)
  settle()
  const tar = await tarZstd(home, join(root, 'home.tar.zst'))
  first.tar = tar.code === 0 ? { ms: tar.ms } : { error: failure(tar, 'tar | zstd') }
  rmSync(join(root, 'home.tar.zst'), { force: true })

  const noFirst = ok(first.panel) ? backup : 'skipped: the panel’s first backup failed'
  const same = await runCase('no-change backup', noFirst, (d) => d.backup([home]))

  const changed = changeSmallFiles(b.data, 0.01, `round-${n}`)
  const expected = await digestTree(home)
  const some = await runCase('1% changed', noFirst, (d) => d.backup([home]))
  some.note = `${changed} small files rewritten`

  const anyBackup = [first, same, some].some((c) => ok(c.panel))
  const restored = `restored-${n}`
  const target = join(root, `restored-direct-${n}`)
  const restore = await runCase(
    'full restore',
    anyBackup
      ? ['restore', 'bench', 'latest', '--destination', dest, '--to', restored, '--wait', '--json']
      : 'skipped: no panel backup succeeded',
    (d) => d.restore(target),
  )

  // A restore is only worth timing if it gives back the bytes that were backed up.
  const checks: string[] = []
  for (const [label, dir, cell] of [
    ['panel restore', join(home, restored), restore.panel],
    ['restic restore', join(target, home), restore.restic],
  ] as const) {
    if (!ok(cell)) continue
    const got = await digestTree(dir).catch(() => null)
    checks.push(
      got?.digest === expected.digest
        ? `${label}: identical to the backed-up home (${expected.files} files)`
        : `${label}: DIFFERS from the backed-up home (${got?.files ?? 0} files, digest ` +
            `${got?.digest ?? 'unreadable'}, expected ${expected.digest})`,
    )
  }
  restore.note = await restoreReferences(b, dest, ok(restore.panel))

  for (const dir of [join(home, restored), target, join(root, 'copy'), join(root, 'kit')]) {
    rmSync(dir, { recursive: true, force: true })
  }
  return { cases, checks }
}

/**
 * What a panel restore does beyond stock restic, priced separately: the same restore of the
 * panel's own repository by stock restic straight from disk, i.e. without the storage bridge.
 */
async function restoreReferences(b: Bench, dest: string, panelOk: boolean): Promise<string> {
  const parts: string[] = []
  if (panelOk) {
    const kit = await b.panel.cli(['recovery-kit', 'bench', '--destination', dest, '--json'])
    if (kit.code !== 0) parts.push(failure(kit, 'panel recovery-kit'))
    else {
      const { repository, password } = JSON.parse(kit.stdout) as Record<string, string>
      const restic = resticAt(repository!, password!, join(b.root, 'kit', 'cache'), b.timeoutMs)
      settle()
      const m = await restic.restore(join(b.root, 'kit', 'restored'))
      parts.push(
        m.code === 0
          ? `stock restic restoring the panel's repository from disk (no bridge) ${seconds(m.ms)}`
          : failure(m, 'restic restore of the panel repository'),
      )
    }
  }
  parts.push('the panel restores into staging beside the home, then moves it in by rename')
  return parts.join('; ')
}

/** The newest run's timing if this command queued it (at or after `since`), else null. */
function timing(panel: Panel, since: number, log: (msg: string) => void) {
  try {
    const t = lastRunTiming(panel)
    return t && t.queuedAt >= since ? t : null
  } catch (err) {
    log(`could not read the run's stages: ${message(err)}`)
    return null
  }
}
