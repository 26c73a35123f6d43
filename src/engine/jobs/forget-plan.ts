import { civil } from '../../zoned.ts'

/** A policy's keep rules; 0 leaves a rule out (restic's `--keep-*` flags). */
export type KeepRules = {
  keepLast: number
  keepDaily: number
  keepWeekly: number
  keepMonthly: number
  keepYearly: number
}

type Snap = { id: string; time: Date }

/** How far before a local midnight an inexact time (see `forgetPlan`) is too close to call. */
const SLACK_MS = 60_000

/** ISO 8601 year and week of a calendar date, as restic's `yw` bucket (year × 100 + week). */
function isoWeek(year: number, month: number, day: number): number {
  const t = new Date(Date.UTC(year, month - 1, day))
  t.setUTCDate(t.getUTCDate() - ((t.getUTCDay() + 6) % 7) + 3)
  const y = t.getUTCFullYear()
  return y * 100 + 1 + Math.floor((t.getTime() - Date.UTC(y, 0, 1)) / (7 * 86_400_000))
}

/**
 * What `restic forget --group-by '' --keep-*` would remove from `snapshots`, computed from the
 * panel's catalog so a run needs no `forget --dry-run`: restic 0.14's ApplyPolicy (newest
 * first, each rule keeps the newest snapshot of each of its last N days, weeks, months or years),
 * with days in `zone`, as restic sees them when run with TZ set to the tenant's zone.
 *
 * `doubt` is true when the catalog's times may not be restic's to the second near a bucket
 * boundary (a time with milliseconds, recorded before restic started, within a minute before a
 * local midnight) or two snapshots of the same second fare differently (restic's order is then
 * its own): the caller then lets restic decide.
 */
export function forgetPlan(
  snapshots: Snap[],
  keep: KeepRules,
  zone: string,
): { remove: string[]; doubt: boolean } {
  const rules = [keep.keepLast, keep.keepDaily, keep.keepWeekly, keep.keepMonthly, keep.keepYearly]
  if (rules.every((n) => !(n > 0))) return { remove: [], doubt: false }
  const sorted = [...snapshots].sort((a, b) => b.time.getTime() - a.time.getTime())
  const buckets = rules.map((count) => ({ count, last: null as number | null }))
  const remove: string[] = []
  let doubt = false
  sorted.forEach((s, nr) => {
    const c = civil(s.time, zone)
    if (s.time.getUTCMilliseconds() !== 0) {
      const toMidnight = ((23 - c.hour) * 3600 + (59 - c.minute) * 60 + (60 - c.second)) * 1000
      if (toMidnight <= SLACK_MS) doubt = true
    }
    const day = c.year * 10_000 + c.month * 100 + c.day
    const values = [nr, day, isoWeek(c.year, c.month, c.day), c.year * 100 + c.month, c.year]
    let kept = false
    buckets.forEach((b, i) => {
      if (b.count <= 0 || values[i] === b.last) return
      kept = true
      b.last = values[i]!
      b.count--
    })
    if (!kept) remove.push(s.id)
  })
  // Two snapshots of the same second are in restic's own order: which one it keeps is then
  // its call, unless both stay or both go.
  const gone = new Set(remove)
  sorted.forEach((s, nr) => {
    const prev = sorted[nr - 1]
    if (prev && prev.time.getTime() === s.time.getTime() && gone.has(prev.id) !== gone.has(s.id))
      doubt = true
  })
  return { remove, doubt }
}
