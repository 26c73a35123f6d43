import { formatBytes, formatDuration } from '../src/units.ts'
import { listWords } from '../src/schedule-words.ts'

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
  cancelled: 'badge-muted',
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
  cancelled: 'Cancelled',
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

/** How many backups a policy keeps, as its retention numbers. */
export type Keeps = {
  keepLast: number
  keepDaily: number
  keepWeekly: number
  keepMonthly: number
  keepYearly: number
}

const DAYS_PER = { keepDaily: 1, keepWeekly: 7, keepMonthly: 30.44, keepYearly: 365.25 }

/** "a week", "3 months", "about a year": how far back `days` reaches, roughly. */
function reach(days: number): string {
  const say = (n: number, unit: string) => (n === 1 ? `a ${unit}` : `${n} ${unit}s`)
  if (days < 7) return say(Math.round(days), 'day')
  if (days < 28) return say(Math.round(days / 7), 'week')
  if (days < 360) return say(Math.round(days / 30.44), 'month')
  return say(Math.round(days / 365.25), 'year')
}

/**
 * Retention in one line, saying what it keeps and how far back that reaches: "Keeps 7 daily,
 * 4 weekly and 12 monthly backups: about a year", "Keeps the last 10 backups".
 */
export function keepsSentence(k: Keeps): string {
  const periodic = (['keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const).filter(
    (f) => k[f] > 0,
  )
  const last = k.keepLast === 1 ? 'the last backup' : `the last ${k.keepLast} backups`
  if (!periodic.length) return k.keepLast > 0 ? `Keeps ${last}` : 'Keeps nothing'
  const words = {
    keepDaily: 'daily',
    keepWeekly: 'weekly',
    keepMonthly: 'monthly',
    keepYearly: 'yearly',
  }
  const counts = periodic.map((f) => `${k[f]} ${words[f]}`)
  const total = periodic.reduce((n, f) => n + k[f], 0)
  const kinds = `${listWords(counts)} backup${total === 1 ? '' : 's'}`
  const days = Math.max(...periodic.map((f) => k[f] * DAYS_PER[f]))
  const head = k.keepLast > 0 ? `Keeps ${last} plus ${kinds}` : `Keeps ${kinds}`
  return `${head}: about ${reach(days)}`
}
