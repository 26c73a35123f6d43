import { CronExpressionParser } from 'cron-parser'
import { problemsSentence, readCron } from './cron-fields.ts'
import { describeSchedule } from './schedule-words.ts'
import { zoneProblem } from './time-zones.ts'
import { snapshotWhen } from './zoned.ts'

export { describeSchedule } from './schedule-words.ts'

/** Presets a tenant can pick instead of writing cron; times are in the policy's time zone. */
export const PRESETS = {
  hourly: { label: describeSchedule('0 * * * *'), cron: '0 * * * *' },
  daily: { label: describeSchedule('0 3 * * *'), cron: '0 3 * * *' },
  weekly: { label: describeSchedule('0 3 * * 0'), cron: '0 3 * * 0' },
  monthly: { label: describeSchedule('0 3 1 * *'), cron: '0 3 1 * *' },
} as const

export type Preset = keyof typeof PRESETS

/** The preset whose cron equals `cron`, or 'custom'. */
export function presetOf(cron: string): Preset | 'custom' {
  const hit = Object.entries(PRESETS).find(([, p]) => p.cron === cron)
  return hit ? (hit[0] as Preset) : 'custom'
}

export function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz })
    return tz.length > 0
  } catch {
    return false
  }
}

// Syntax only the library knows (L, #): a field it takes alone in an otherwise plain expression.
function libraryAccepts(index: number, text: string): boolean {
  const parts = ['0', '0', '*', '*', '*']
  parts[index] = text
  try {
    CronExpressionParser.parse(parts.join(' '), { tz: 'UTC' })
    return true
  } catch {
    return false
  }
}

/** Why the library refused an expression whose fields each read well, in words. */
function refusal(err: unknown): string {
  const message = (err as Error).message ?? ''
  if (/day of month/i.test(message))
    return 'This schedule never runs: none of its months has that day of the month.'
  return `This schedule cannot run (${message}).`
}

export type ScheduleCheck =
  { ok: true; next: Date[] } | { ok: false; error: string; field: 'cron' | 'timezone' }

/**
 * Checks a five-field cron expression (minute hour day-of-month month day-of-week) and
 * returns its next `count` run times after `from`, computed in `timezone`.
 */
export function nextRuns(
  cron: string,
  timezone: string,
  count = 3,
  from = new Date(),
): ScheduleCheck {
  const expr = cron.trim().replace(/\s+/g, ' ')
  const bad = (error: string, field: 'cron' | 'timezone' = 'cron') =>
    ({ ok: false, error, field }) as const
  if (!expr) return bad('Enter a cron expression or pick a preset.')
  if (!isTimezone(timezone)) return bad(zoneProblem(timezone) ?? 'Choose a time zone.', 'timezone')
  const parts = expr.split(' ')
  if (parts.length !== 5 || expr.startsWith('@')) {
    return bad('Use five fields: minute hour day-of-month month day-of-week, e.g. 30 2 * * *.')
  }
  const read = readCron(parts, libraryAccepts)
  if (!read.ok) return bad(problemsSentence(read.problems))
  try {
    const it = CronExpressionParser.parse(expr, { currentDate: from, tz: timezone })
    return { ok: true, next: it.take(count).map((d) => d.toDate()) }
  } catch (err) {
    return bad(refusal(err))
  }
}

/** "Mon 24 Nov 2026, 03:00" in the given zone. */
export function formatInZone(date: Date, timezone: string): string {
  return snapshotWhen(date, timezone)
}
