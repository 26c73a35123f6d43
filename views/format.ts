import { formatBytes, formatDuration } from '../src/units.ts'

/** "3.2 MiB", "512 B": binary units everywhere, as the admin's limits are set in GiB. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  return formatBytes(n)
}

/** "2 min ago", "in 3 h", from a date relative to now. */
export function relative(date: Date | string | null | undefined, now = Date.now()): string {
  if (!date) return '—'
  const t = typeof date === 'string' ? Date.parse(date) : date.getTime()
  const s = Math.round((t - now) / 1000)
  const abs = Math.abs(s)
  const [n, unit] =
    abs < 60
      ? [abs, 's']
      : abs < 3600
        ? [Math.round(abs / 60), 'min']
        : abs < 86400
          ? [Math.round(abs / 3600), 'h']
          : [Math.round(abs / 86400), 'd']
  if (abs < 5) return 'just now'
  return s < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`
}

export function duration(start: Date | null | undefined, end: Date | null | undefined): string {
  if (!start) return '—'
  return formatDuration((end ?? new Date()).getTime() - start.getTime())
}

const statusClass: Record<string, string> = {
  success: 'badge-ok',
  partial: 'badge-warn',
  failed: 'badge-bad',
  interrupted: 'badge-bad',
  running: 'badge',
  queued: 'badge-muted',
  skipped: 'badge-muted',
  pending: 'badge-muted',
}

const statusText: Record<string, string> = {
  success: 'Succeeded',
  partial: 'Partial',
  failed: 'Failed',
  interrupted: 'Interrupted',
  running: 'Running',
  queued: 'Queued',
  skipped: 'Skipped',
  pending: 'Pending',
}

export function statusBadge(status: string) {
  return {
    class: `badge ${statusClass[status] ?? 'badge-muted'}`,
    text: statusText[status] ?? status,
  }
}
