import { cpus, totalmem } from 'node:os'
import type { Dataset } from './dataset.ts'
import type { RunTiming } from './panel.ts'

/** A timing, a failure to show in its place, or nothing (the column does not apply). */
export type Cell = { ms: number } | { error: string } | null

export type Row = { name: string; panel: Cell; restic: Cell; tar: Cell }

/** What one panel command cost beyond its job, and where the job's own time went. */
export type Breakdown = {
  name: string
  wallMs: number
  /** The command's spawn and exit, epoch ms. */
  started: number
  ended: number
  timing: RunTiming | null
  peak: number
  resticPeak: number
}

const MB = 1024 * 1024

export const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
export const megabytes = (bytes: number) => `${Math.round(bytes / MB)} MB`

function cell(c: Cell, notes: string[]): string {
  if (!c) return '-'
  if ('ms' in c) return seconds(c.ms)
  notes.push(c.error)
  return `ERROR [${notes.length}]`
}

/** panel ÷ restic, or '-' when either is missing. */
export function ratio(a: Cell, b: Cell): string {
  return a && b && 'ms' in a && 'ms' in b ? `${(a.ms / b.ms).toFixed(2)}x` : '-'
}

/** The comparison table, error notes under it (numbered as in the cells). */
export function table(
  rows: Row[],
  memory: { name: string; panel: string; restic: string }[],
): string {
  const notes: string[] = []
  const lines: string[][] = [['case', 'panel', 'restic', 'tar+zstd', 'panel/restic']]
  for (const r of rows) {
    lines.push([
      r.name,
      cell(r.panel, notes),
      cell(r.restic, notes),
      cell(r.tar, notes),
      ratio(r.panel, r.restic),
    ])
  }
  for (const m of memory) lines.push([m.name, m.panel, m.restic, '', ''])
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)) + 3)
  const out = lines.map((l) =>
    l
      .map((v, i) => v.padEnd(widths[i]!))
      .join('')
      .trimEnd(),
  )
  return [...out, ...notes.map((n, i) => `  [${i + 1}] ${n}`)].join('\n')
}

/** One line per panel command: start-up, queue, the job's stages, and the wait to exit. */
export function breakdown(items: Breakdown[], references: Record<string, string>): string {
  const out: string[] = []
  for (const b of items) {
    if (!b.timing) {
      out.push(`  ${b.name}: ${seconds(b.wallMs)} wall, no run recorded`)
      continue
    }
    const stages = b.timing.stages
      .map(
        (s) =>
          `${s.name}${s.status && s.status !== 'success' ? ` (${s.status})` : ''} ${seconds(s.ms)}`,
      )
      .join(', ')
    const t = b.timing
    out.push(
      `  ${b.name}: ${seconds(b.wallMs)} wall = ${seconds(t.queuedAt - b.started)} CLI start ` +
        `and setup + ${seconds(t.startedAt - t.queuedAt)} queued + job ` +
        `${seconds(t.finishedAt - t.startedAt)} (${stages}) + ${seconds(b.ended - t.finishedAt)} ` +
        `job end to exit; peak panel ${megabytes(b.peak)}, its restic ${megabytes(b.resticPeak)}`,
    )
    if (references[b.name]) out.push(`      reference: ${references[b.name]}`)
  }
  return out.join('\n')
}

/** Everything one benchmark run found, for `summary`. */
export type Results = {
  scale: number
  data: Dataset
  digests: { generated: string; changed: string }
  genMs: number
  changedFiles: number
  restic: string
  systemUser: string | null
  load: { start: number; end: number }
  cli: { help: number; list: number } | null
  rows: { first: Row; same: Row; some: Row; restore: Row }
  peaks: { panel: number; panelRestic: number; restic: number }
  breakdowns: Breakdown[]
  references: Record<string, string>
  checks: string[]
}

/** The whole printed report: context, the table, the issue's targets, the breakdown. */
export function summary(r: Results): string {
  const { data } = r
  const b = data.bytes
  const rows = [r.rows.first, r.rows.same, r.rows.some, r.rows.restore]
  return [
    `panel backup benchmark, BENCH_SCALE=${r.scale}`,
    `dataset: ${data.files} files, ${megabytes(b.total)} (${data.smallFiles.length} small files ` +
      `${megabytes(b.small)}, media ${megabytes(b.media)}, SQL dump ${megabytes(b.sql)}), ` +
      `digest ${r.digests.generated}, generated in ${seconds(r.genMs)}`,
    `1% change: ${r.changedFiles} small files rewritten (digest after: ${r.digests.changed})`,
    `${r.restic}; node ${process.version}; ${cpus().length} cores, ${megabytes(totalmem())} RAM; ` +
      (r.systemUser ? `tenant runs as system user ${r.systemUser}` : 'not root: no tenant user'),
    `load average (1 min): ${r.load.start.toFixed(2)} at start, ${r.load.end.toFixed(2)} at end ` +
      '(other work on the machine slows both columns)',
    r.cli
      ? `panel CLI fixed cost (median of 3): panel help ${seconds(r.cli.help)}, ` +
        `panel tenant list ${seconds(r.cli.list)}`
      : 'panel CLI fixed cost: not measured (setup failed)',
    '',
    table(rows, [
      {
        name: 'peak memory (panel process)',
        panel: r.peaks.panel ? megabytes(r.peaks.panel) : '-',
        restic: '',
      },
      {
        name: 'peak memory (restic)',
        panel: r.peaks.panelRestic ? megabytes(r.peaks.panelRestic) : '-',
        restic: megabytes(r.peaks.restic),
      },
    ]),
    '',
    'targets (from the issue, for context):',
    `  panel first backup within 1.15x of direct restic: ${ratio(r.rows.first.panel, r.rows.first.restic)}`,
    `  panel no-change backup within 1.25x of direct restic: ${ratio(r.rows.same.panel, r.rows.same.restic)}`,
    `  panel process under 200 MB peak: ${megabytes(r.peaks.panel)}`,
    '',
    'where the panel time goes:',
    breakdown(r.breakdowns, r.references),
    ...(r.checks.length ? ['', 'restore checks:', ...r.checks.map((c) => `  ${c}`)] : []),
  ].join('\n')
}
