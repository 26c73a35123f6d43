import { cpus, totalmem } from 'node:os'
import type { Dataset } from './dataset.ts'
import type { Measured } from './measure.ts'
import type { RunTiming } from './panel.ts'

/** A timing, a failure to show in its place, or nothing (the column does not apply). */
export type Cell = { ms: number } | { error: string } | null

export const CASES = ['first backup', 'no-change backup', '1% changed', 'full restore'] as const
export type CaseName = (typeof CASES)[number]

/** One case of one round: the three columns, and what the breakdown needs. */
export type CaseResult = {
  panel: Cell
  restic: Cell
  tar: Cell
  panelRun?: { m: Measured; timing: RunTiming | null }
  resticRun?: Measured
  /** Reference costs that explain the gap, in words. */
  note?: string
}

export type Round = { cases: Record<CaseName, CaseResult>; checks: string[] }

/** Everything one benchmark run found, for `summary`. */
export type Results = {
  scale: number
  data: Dataset
  digest: string
  genMs: number
  restic: string
  systemUser: string | null
  load: { start: number; end: number }
  cli: { help: number; list: number } | null
  rounds: Round[]
  /** More blocks to print under the main table (e.g. the remote destinations). */
  sections?: string[]
}

const MB = 1024 * 1024

export const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
export const megabytes = (bytes: number) => `${Math.round(bytes / MB)} MB`
export const ok = (c: Cell): c is { ms: number } => Boolean(c && 'ms' in c)

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** The median of a column over rounds; the first error when any round failed. */
export function combine(cells: Cell[]): Cell {
  const failed = cells.find((c) => c && 'error' in c)
  if (failed) return failed
  const times = cells.filter(ok).map((c) => c.ms)
  return times.length ? { ms: median(times) } : null
}

/** panel ÷ restic, or '-' when either is missing. */
export function ratio(a: Cell, b: Cell): string {
  return ok(a) && ok(b) ? `${(a.ms / b.ms).toFixed(2)}x` : '-'
}

export function cell(c: Cell, notes: string[]): string {
  if (!c) return '-'
  if ('ms' in c) return seconds(c.ms)
  notes.push(c.error)
  return `ERROR [${notes.length}]`
}

/** Aligned columns, error notes under them (numbered as in the cells). */
export function table(lines: string[][], notes: string[]): string {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)) + 3)
  const out = lines.map((l) =>
    l
      .map((v, i) => v.padEnd(widths[i]!))
      .join('')
      .trimEnd(),
  )
  return [...out, ...notes.map((n, i) => `  [${i + 1}] ${n}`)].join('\n')
}

/** One case of one round: start-up, queue, the job's stages, the wait to exit, CPU, memory. */
function breakdown(name: string, c: CaseResult, round: string): string[] {
  const run = c.panelRun
  if (!run) return []
  const { m, timing: t } = run
  const lines = [
    t
      ? `  ${round}${name}: ${seconds(m.ms)} wall = ${seconds(t.queuedAt - m.started)} CLI start ` +
        `and setup + ${seconds(t.startedAt - t.queuedAt)} queued + job ` +
        `${seconds(t.finishedAt - t.startedAt)} (` +
        t.stages
          .map(
            (s) =>
              `${s.name}${s.status === 'success' || !s.status ? '' : ` (${s.status})`} ${seconds(s.ms)}`,
          )
          .join(', ') +
        `) + ${seconds(m.ended - t.finishedAt)} job end to exit`
      : `  ${round}${name}: ${seconds(m.ms)} wall, no run recorded`,
    `      CPU: panel process ${m.usage.cpu.toFixed(1)} s, its restic and helpers ` +
      `${m.usage.childCpu.toFixed(1)} s` +
      (c.resticRun
        ? `; restic direct ${seconds(c.resticRun.ms)} wall, ${c.resticRun.usage.cpu.toFixed(1)} s CPU`
        : '') +
      `; peak panel ${megabytes(m.usage.peak)}, its restic ${megabytes(m.usage.childPeaks.restic ?? 0)}`,
  ]
  if (c.note) lines.push(`      ${c.note}`)
  return lines
}

/** The whole printed report: context, the table, the issue's targets, the breakdown. */
export function summary(r: Results): string {
  const b = r.data.bytes
  const many = r.rounds.length > 1
  const column = (name: CaseName, col: 'panel' | 'restic' | 'tar') =>
    combine(r.rounds.map((round) => round.cases[name][col]))
  const runs = r.rounds.flatMap((round) => CASES.map((n) => round.cases[n]))
  const maxOf = (f: (c: CaseResult) => number | undefined) =>
    Math.max(0, ...runs.map((c) => f(c) ?? 0))
  const peaks = {
    panel: maxOf((c) => c.panelRun?.m.usage.peak),
    panelRestic: maxOf((c) => c.panelRun?.m.usage.childPeaks.restic),
    restic: maxOf((c) => c.resticRun?.usage.peak),
  }
  const mb = (n: number) => (n ? megabytes(n) : '-')

  const notes: string[] = []
  const lines = [['case', 'panel', 'restic', 'tar+zstd', 'panel/restic']]
  for (const name of CASES) {
    const [p, d, t] = [column(name, 'panel'), column(name, 'restic'), column(name, 'tar')]
    lines.push([name, cell(p, notes), cell(d, notes), cell(t, notes), ratio(p, d)])
  }
  lines.push(['peak memory (panel process)', mb(peaks.panel), '', '', ''])
  lines.push(['peak memory (restic)', mb(peaks.panelRestic), mb(peaks.restic), '', ''])

  const each = (name: CaseName, col: 'panel' | 'restic' | 'tar') =>
    r.rounds
      .map((round) => round.cases[name][col])
      .map((c) => (ok(c) ? (c.ms / 1000).toFixed(2) : 'x'))
  return [
    `panel backup benchmark, BENCH_SCALE=${r.scale}` +
      (many ? `, ${r.rounds.length} rounds (median shown)` : ''),
    `dataset: ${r.data.files} files, ${megabytes(b.total)} (${r.data.smallFiles.length} small ` +
      `files ${megabytes(b.small)}, media ${megabytes(b.media)}, SQL dump ${megabytes(b.sql)}), ` +
      `digest ${r.digest}, generated in ${seconds(r.genMs)}; each round rewrites 1% of the small files`,
    `${r.restic}; node ${process.version}; ${cpus().length} cores, ${megabytes(totalmem())} RAM; ` +
      (r.systemUser ? `tenant runs as system user ${r.systemUser}` : 'not root: no tenant user'),
    `load average (1 min): ${r.load.start.toFixed(2)} at start, ${r.load.end.toFixed(2)} at end ` +
      '(other work on the machine slows and scatters both columns)',
    r.cli
      ? `panel CLI fixed cost (median of 3): panel help ${seconds(r.cli.help)}, ` +
        `panel tenant list ${seconds(r.cli.list)}`
      : 'panel CLI fixed cost: not measured (setup failed)',
    '',
    table(lines, notes),
    ...(r.sections ?? []).flatMap((s) => ['', s]),
    ...(many
      ? [
          '',
          'each round (s, x = failed):',
          ...CASES.map(
            (n) =>
              `  ${n}: panel ${each(n, 'panel').join(' / ')}; restic ${each(n, 'restic').join(' / ')}` +
              (n === 'first backup' ? `; tar+zstd ${each(n, 'tar').join(' / ')}` : ''),
          ),
        ]
      : []),
    '',
    'targets (from the issue, for context):',
    `  panel first backup within 1.15x of direct restic: ${ratio(column('first backup', 'panel'), column('first backup', 'restic'))}`,
    `  panel no-change backup within 1.25x of direct restic: ${ratio(column('no-change backup', 'panel'), column('no-change backup', 'restic'))}`,
    `  panel process under 200 MB peak: ${mb(peaks.panel)}`,
    '',
    'where the panel time goes:',
    ...r.rounds.flatMap((round, i) =>
      CASES.flatMap((n) => breakdown(n, round.cases[n], many ? `[round ${i + 1}] ` : '')),
    ),
    '',
    'restore checks:',
    ...r.rounds.flatMap((round, i) =>
      round.checks.map((c) => `  ${many ? `[round ${i + 1}] ` : ''}${c}`),
    ),
  ].join('\n')
}
