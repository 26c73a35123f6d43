import { stampParts } from './zoned.ts'

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** The calendar day of `at` in `zone`, as days since 1970-01-01, and its clock time. */
function dayOf(at: Date, zone: string) {
  const p = stampParts(at, zone)
  const utc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day))
  return { day: Math.round(utc / 86_400_000), year: p.year, time: `${p.hour}:${p.minute}` }
}

/**
 * A moment as a hosting customer says it, in `zone` and relative to `now`: "Today at 14:00",
 * "Tomorrow at 02:30", "Yesterday at 09:10", else "Sun 7 Dec at 04:00" (with the year when it
 * is not this year's: "Tue 3 Dec 2024 at 02:30"). `lower` starts it in lower case, for use
 * inside a sentence ("Failing since yesterday at 02:30").
 */
export function dayWords(
  at: Date,
  zone: string,
  now = new Date(),
  opts: { lower?: boolean } = {},
): string {
  const a = dayOf(at, zone)
  const n = dayOf(now, zone)
  const diff = a.day - n.day
  const near = diff === 0 ? 'Today' : diff === 1 ? 'Tomorrow' : diff === -1 ? 'Yesterday' : null
  if (near) return `${opts.lower ? near.toLowerCase() : near} at ${a.time}`
  const date = new Date(a.day * 86_400_000)
  const year = a.year === n.year ? '' : ` ${a.year}`
  return `${DAYS[date.getUTCDay()]} ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}${year} at ${a.time}`
}
