import { readCron, type FieldValues } from './cron-fields.ts'

// A cron expression told back as a sentence a hosting customer reads at a glance: "Daily at
// 02:30", "Every Sunday at 04:00", "Weekdays at 22:15". What has no short sentence is said as
// "Custom: <cron>", never guessed.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

const two = (n: number) => String(n).padStart(2, '0')

/** "a", "a and b", "a, b and c". */
export function listWords(items: readonly string[]): string {
  if (items.length <= 1) return items.join('')
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`
}

/** 1st, 2nd, 3rd, 4th, 11th, 21st… */
export function ordinal(n: number): string {
  const tens = n % 100
  if (tens >= 11 && tens <= 13) return `${n}th`
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`
}

/** The step k when `values` are exactly from, from+k, … up to the field's end. */
function stepOf(values: readonly number[], from: number, max: number): number | null {
  if (values.length < 2 || values[0] !== from) return null
  const k = values[1]! - values[0]!
  const expected: number[] = []
  for (let n = from; n <= max; n += k) expected.push(n)
  return expected.length === values.length && expected.every((n, i) => values[i] === n) ? k : null
}

function contiguous(values: readonly number[]): boolean {
  return values.every((n, i) => i === 0 || n === values[i - 1]! + 1)
}

/** When in the day: a list of clock times, or a phrase such as "Hourly at :00". */
type TimePart = { times: string[] } | { phrase: string }

function timePart(minute: FieldValues, hour: FieldValues): TimePart | null {
  const m = minute.values
  const h = hour.values
  if (m.length === 60 && hour.any) return { phrase: 'Every minute' }
  const every = stepOf(m, 0, 59)
  if (hour.any && every && 60 % every === 0) return { phrase: `Every ${every} minutes` }
  const past = listWords(m.map((n) => `:${two(n)}`))
  if (m.length <= 2 && hour.any) return { phrase: `Hourly at ${past}` }
  if (m.length > 2) return null
  const hours = stepOf(h, 0, 23)
  if (hours && hours > 1 && 24 % hours === 0) return { phrase: `Every ${hours} hours at ${past}` }
  if (m.length * h.length <= 4)
    return { times: h.flatMap((hh) => m.map((mm) => `${two(hh)}:${two(mm)}`)) }
  if (m.length === 1 && contiguous(h)) {
    return {
      phrase: `Hourly at ${past} from ${two(h[0]!)}:${two(m[0]!)} to ${two(h.at(-1)!)}:${two(m[0]!)}`,
    }
  }
  return null
}

/** Which days: every day, some days of the week, or some days of the month. */
type DayPart = { every: true } | { week: number[] } | { month: number[] }

function dayPart(dom: FieldValues, dow: FieldValues): DayPart | null {
  if (dom.any && dow.any) return { every: true }
  // Both set means "either" in cron: too subtle for a short sentence.
  if (!dom.any && !dow.any) return null
  return dom.any ? { week: dow.values } : { month: dom.values }
}

function weekWords(days: readonly number[], plural: boolean): string {
  if (days.join() === '1,2,3,4,5') return plural ? 'weekdays' : 'Weekdays'
  if (days.join() === '0,6') return plural ? 'weekends' : 'Weekends'
  if (days.length === 1) return `${DAYS[days[0]!]}${plural ? 's' : ''}`
  return listWords(days.map((d) => DAYS[d]!.slice(0, 3)))
}

/**
 * The schedule as a sentence, e.g. "Hourly at :00", "Daily at 02:30", "Every Sunday at 04:00",
 * "On the 1st of each month at 03:00", "Weekdays at 22:15", "At 02:30 on Mon and Thu"; anything
 * else "Custom: <cron>". Times are in the policy's own zone, which the caller names if needed.
 */
export function describeSchedule(cron: string): string {
  const expr = cron.trim().replace(/\s+/g, ' ')
  const custom = `Custom: ${expr}`
  const parts = expr.split(' ')
  if (parts.length !== 5) return custom
  const read = readCron(parts)
  if (!read.ok || read.fields.includes(null)) return custom
  const [minute, hour, dom, month, dow] = read.fields as [
    FieldValues,
    FieldValues,
    FieldValues,
    FieldValues,
    FieldValues,
  ]
  const time = timePart(minute, hour)
  const days = dayPart(dom, dow)
  if (!time || !days) return custom
  const months = month.any ? null : listWords(month.values.map((n) => MONTHS[n - 1]!))
  const at = 'times' in time ? `at ${listWords(time.times)}` : null
  let text: string
  if ('every' in days) {
    text = at ? `Daily ${at}` : (time as { phrase: string }).phrase
  } else if ('week' in days) {
    const d = days.week
    if (at) {
      text =
        d.length === 1
          ? `Every ${DAYS[d[0]!]} ${at}`
          : weekWords(d, false) === 'Weekdays' || weekWords(d, false) === 'Weekends'
            ? `${weekWords(d, false)} ${at}`
            : `At ${listWords((time as { times: string[] }).times)} on ${weekWords(d, false)}`
    } else text = `${(time as { phrase: string }).phrase} on ${weekWords(d, true)}`
  } else {
    const which = `the ${listWords(days.month.map(ordinal))} of ${months ?? 'each month'}`
    return at ? `On ${which} ${at}` : `${(time as { phrase: string }).phrase} on ${which}`
  }
  return months ? `${text}, only in ${months}` : text
}
