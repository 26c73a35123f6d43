import type { RemoteCase, RemoteResult } from './remote-round.ts'
import { cell, combine, megabytes, ratio, seconds, table, type Cell, type Round } from './report.ts'

/** True when a remote row failed (a skipped type, outside CI, is not a failure). */
export function remoteFailed(rounds: RemoteResult[][]): boolean {
  return rounds.some((round) =>
    round.some((r) => [r.first.cell, r.same.cell].some((c) => c && 'error' in c)),
  )
}

/** One stage list of a timed backup: "job 12.3 s (snapshot 11.9 s, …)". */
function stages(c: RemoteCase): string {
  const t = c.run?.timing
  if (!c.run) return 'not run'
  if (!t) return `${seconds(c.run.m.ms)} wall, no run recorded`
  const list = t.stages
    .map(
      (s) =>
        `${s.name}${s.status && s.status !== 'success' ? ` (${s.status})` : ''} ${seconds(s.ms)}`,
    )
    .join(', ')
  return `${seconds(c.run.m.ms)} wall, job ${seconds(t.finishedAt - t.startedAt)} (${list})`
}

/**
 * The remote destinations block printed under the main table: per type the panel's first and
 * no-change backup (median over rounds), each as a ratio to the panel's Local backup of the
 * same home in the same run, the panel's peak memory, then where each backup's time went.
 */
export function remoteSummary(remotes: RemoteResult[][], local: Round[]): string {
  const many = remotes.length > 1
  const localFirst = combine(local.map((r) => r.cases['first backup'].panel))
  const localSame = combine(local.map((r) => r.cases['no-change backup'].panel))
  const notes: string[] = []
  const lines = [
    ['destination (panel)', 'first backup', 'vs Local', 'no-change backup', 'vs Local', 'peak'],
    ['Local (rows above)', cell(localFirst, notes), '1.00x', cell(localSame, notes), '1.00x', ''],
  ]
  const kinds = remotes[0]?.map((r) => r.kind) ?? []
  const breakdown: string[] = []
  for (const kind of kinds) {
    const mine = remotes.map((round) => round.find((r) => r.kind === kind)!)
    const label = `${kind.name} (${kind.server})`
    const skipped = mine.find((r) => r.skipped)?.skipped
    if (skipped) {
      notes.push(`${kind.name} skipped: ${skipped}`)
      lines.push([label, `SKIPPED [${notes.length}]`, '-', 'SKIPPED', '-', ''])
      continue
    }
    const first: Cell = combine(mine.map((r) => r.first.cell))
    const same: Cell = combine(mine.map((r) => r.same.cell))
    const peak = Math.max(
      0,
      ...mine.flatMap((r) => [r.first, r.same]).map((c) => c.run?.m.usage.peak ?? 0),
    )
    lines.push([
      label,
      cell(first, notes),
      ratio(first, localFirst),
      cell(same, notes),
      ratio(same, localSame),
      peak ? megabytes(peak) : '-',
    ])
    mine.forEach((r, i) => {
      const round = many ? `[round ${i + 1}] ` : ''
      breakdown.push(`  ${round}${kind.name} first backup: ${stages(r.first)}`)
      breakdown.push(`  ${round}${kind.name} no-change backup: ${stages(r.same)}`)
    })
  }
  const each = (pick: (r: RemoteResult) => Cell) => (kind: RemoteResult['kind']) =>
    remotes
      .map((round) => pick(round.find((r) => r.kind === kind)!))
      .map((c) => (c && 'ms' in c ? (c.ms / 1000).toFixed(2) : 'x'))
      .join(' / ')
  return [
    'remote destinations: the same panel backups of the same home to each loopback server ' +
      `(peak = panel process)${many ? ', median of the rounds' : ''}`,
    table(lines, notes),
    ...(many
      ? [
          'each round (s, x = failed or skipped):',
          ...kinds.map(
            (k) =>
              `  ${k.name}: first ${each((r) => r.first.cell)(k)}; no-change ${each((r) => r.same.cell)(k)}`,
          ),
        ]
      : []),
    '',
    'where the remote backup time goes:',
    ...breakdown,
  ].join('\n')
}
