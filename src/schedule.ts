import { CronExpressionParser } from 'cron-parser'

/** Presets a tenant can pick instead of writing cron; times are in the policy's time zone. */
export const PRESETS = {
  hourly: { label: 'Hourly', cron: '0 * * * *' },
  daily: { label: 'Daily at 03:00', cron: '0 3 * * *' },
  weekly: { label: 'Weekly, Sunday 03:00', cron: '0 3 * * 0' },
  monthly: { label: 'Monthly, the 1st at 03:00', cron: '0 3 1 * *' },
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

export const TIMEZONES: readonly string[] = ['UTC', ...Intl.supportedValuesOf('timeZone')]

export type ScheduleCheck = { ok: true; next: Date[] } | { ok: false; error: string }

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
  if (!expr) return { ok: false, error: 'Enter a cron expression or pick a preset.' }
  if (!isTimezone(timezone)) return { ok: false, error: `Unknown time zone "${timezone}".` }
  if (expr.split(' ').length !== 5 || expr.startsWith('@')) {
    return { ok: false, error: 'Use five fields: minute hour day-of-month month day-of-week.' }
  }
  try {
    const it = CronExpressionParser.parse(expr, { currentDate: from, tz: timezone })
    return { ok: true, next: it.take(count).map((d) => d.toDate()) }
  } catch (err) {
    return { ok: false, error: `Not a valid cron expression: ${(err as Error).message}` }
  }
}

/** "Mon 24 Nov 2026, 03:00" in the given zone. */
export function formatInZone(date: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  }).format(date)
}
