import { loadavg } from 'node:os'
import type { Dataset } from './dataset.ts'
import { perHour, type Pass } from './throughput-run.ts'

/** The 1, 5 and 15 minute load averages, for "start → end" lines a closing note can quote. */
export const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ')

/** One group's timed passes: the panel's runner and the direct restic loop. */
export type GroupResult = {
  label: string
  count: number
  data: Dataset
  goalPerHour: number
  panel: Pass
  direct: Pass
  load: { start: string; end: string }
}

const MB = 1024 * 1024
const num = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–')
const secs = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '–')

/**
 * Rows of the throughput table: wall time and tenants per hour of each, the panel's time ÷
 * the direct loop's, and the goal (tenants per hour) beside the panel's rate. Failures follow
 * their row, a few at most.
 */
export function throughputRows(groups: GroupResult[]): string[] {
  const rows = [
    '  group                                   panel: wall  tenants/h   direct restic: wall  tenants/h   panel ÷ direct time   goal',
  ]
  for (const g of groups) {
    const size = `${g.count} × ${num(g.data.files)} files, ${(g.data.bytes.total / MB).toFixed(1)} MB`
    const ratio = g.panel.ms / g.direct.ms
    const rate = perHour(g.panel)
    const goal = `≥ ${num(g.goalPerHour)}/h ${rate >= g.goalPerHour ? 'met' : 'NOT met'}`
    rows.push(
      `  ${`${g.label}: ${size}`.padEnd(38)} ${secs(g.panel.ms).padStart(12)} ${num(rate).padStart(10)}` +
        `   ${secs(g.direct.ms).padStart(19)} ${num(perHour(g.direct)).padStart(10)}` +
        `   ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–'}`.padEnd(25) +
        goal,
    )
    rows.push(`      load (1/5/15 min) ${g.load.start} → ${g.load.end}`)
    for (const [who, pass] of [
      ['panel', g.panel],
      ['direct', g.direct],
    ] as const) {
      for (const f of pass.failures.slice(0, 3)) rows.push(`      ${who} FAILED: ${f}`)
      if (pass.failures.length > 3)
        rows.push(`      ${who}: ${pass.failures.length - 3} more failed`)
    }
  }
  return rows
}
