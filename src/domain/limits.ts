import type { Db } from '../db/client.ts'
import type { Tenant } from '../db/schema.ts'
import { limitsOf, onDemandSince } from '../db/limits.ts'
import { LimitError } from '../errors.ts'
import { CronExpressionParser } from 'cron-parser'
import { nextRuns } from '../schedule.ts'

const DAY_MS = 24 * 3600 * 1000
export const GIB = 1024 ** 3

/** "14:05" in the given zone: when the next on-demand backup is possible. */
export function clock(date: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(date)
}

export type OnDemandUsage = { used: number; limit: number | null; nextAt: Date | null }

/** On-demand backups the tenant started in the last 24 hours, and when the next one is possible. */
export async function onDemandUsage(
  db: Db,
  tenant: Tenant,
  now = new Date(),
): Promise<OnDemandUsage> {
  const limit = (await limitsOf(db, tenant)).runsPerDay
  const times = await onDemandSince(db, tenant.id, new Date(now.getTime() - DAY_MS))
  // A slot frees up when the job that put the count at the limit leaves the 24-hour window.
  const freeing =
    limit !== null && limit > 0 && times.length >= limit ? times[times.length - limit] : undefined
  return {
    used: times.length,
    limit,
    nextAt: freeing ? new Date(freeing.getTime() + DAY_MS) : null,
  }
}

/**
 * Throws LimitError, in words the tenant can act on, when the tenant has used its
 * on-demand backups for the last 24 hours. Scheduled backups are never counted or refused.
 */
export async function assertOnDemandAllowed(
  db: Db,
  tenant: Tenant,
  now = new Date(),
): Promise<void> {
  const { used, limit, nextAt } = await onDemandUsage(db, tenant, now)
  if (limit === null || used < limit) return
  if (limit === 0) {
    throw new LimitError(
      'On-demand backups are turned off for this account by the administrator; scheduled backups still run.',
    )
  }
  const after = nextAt ? clock(nextAt, tenant.timezone) : '24 hours'
  throw new LimitError(
    `You have used ${used} of ${limit} on-demand backups today; the next is possible after ${after}.`,
  )
}

function span(minutes: number): string {
  if (minutes % 1440 === 0) return minutes === 1440 ? '1 day' : `${minutes / 1440} days`
  if (minutes % 60 === 0) return minutes === 60 ? '1 hour' : `${minutes / 60} hours`
  return minutes === 1 ? '1 minute' : `${minutes} minutes`
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>()

/** Minutes east of UTC in `timezone` at `date` (e.g. 120 for Berlin in summer). */
function offsetMinutes(date: Date, timezone: string): number {
  let format = offsetFormats.get(timezone)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' })
    offsetFormats.set(timezone, format)
  }
  const name = format.formatToParts(date).find((p) => p.type === 'timeZoneName')?.value
  const m = name?.match(/GMT([+-])(\d{2}):(\d{2})/)
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0
}

/**
 * Whether a schedule fires more often than `minMinutes` allows: the gaps between consecutive
 * run times over the next eight days (so a weekday-only burst is seen; at most 500 run times)
 * must all be at least the minimum. Around a summer-time change a gap may fall short by the
 * hour the clocks moved, so a daily 02:30 backup is not refused that week. Returns the message
 * for the schedule field, or undefined.
 */
export function intervalProblem(
  cron: string,
  timezone: string,
  minMinutes: number | null,
  from = new Date(),
): string | undefined {
  if (!minMinutes || !nextRuns(cron, timezone, 1, from).ok) return undefined // a bad cron has its own error
  const endDate = new Date(from.getTime() + 8 * DAY_MS)
  const it = CronExpressionParser.parse(cron.trim().replace(/\s+/g, ' '), {
    currentDate: from,
    endDate,
    tz: timezone,
  })
  let prev: Date | null = null
  // The first too-short gap ends the scan, so a too-frequent schedule costs a few steps.
  for (let i = 0; i < 500 && it.hasNext(); i++) {
    const at = it.next().toDate()
    if (prev) {
      const gap = Math.round((at.getTime() - prev.getTime()) / 60_000)
      const shift = Math.abs(
        offsetMinutes(new Date(at.getTime() + DAY_MS), timezone) -
          offsetMinutes(new Date(prev.getTime() - DAY_MS), timezone),
      )
      if (gap + shift < minMinutes) {
        return `This schedule runs backups ${span(gap)} apart; the administrator allows at most one every ${span(minMinutes)}.`
      }
    }
    prev = at
  }
  return undefined
}
