// The five fields of a cron expression, read by hand so a mistake can be named in plain words
// (the cron library stops at the first one and names it in its own terms), and so a schedule
// can be told back as a sentence. Only standard cron is read here: anything else the library
// understands (L, #) is left to it.

/** One field of a five-field cron expression. */
export type CronField = {
  /** "Minute", "Hour"… as a sentence starts. */
  name: string
  min: number
  max: number
  /** Names accepted for values (jan…dec, sun…sat), lower case, in value order from `min`. */
  names?: readonly string[]
}

export const CRON_FIELDS: readonly CronField[] = [
  { name: 'Minute', min: 0, max: 59 },
  { name: 'Hour', min: 0, max: 23 },
  { name: 'Day of month', min: 1, max: 31 },
  {
    name: 'Month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  // 0 and 7 are both Sunday.
  {
    name: 'Day of week',
    min: 0,
    max: 7,
    names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
  },
]

/** A field read: every value it matches (sorted), and whether it was written as `*` or `?`. */
export type FieldValues = { any: boolean; values: number[] }

/** What reading an expression found: each field's values, or the problems in plain words. */
export type CronReading =
  | {
      ok: true
      /** Per field; null where `accepts` took syntax this reader does not know (L, #…). */
      fields: (FieldValues | null)[]
    }
  | {
      ok: false
      /** One per bad field, in field order, e.g. "minute 61 is not between 0 and 59". */
      problems: string[]
    }

type ItemResult = { values: number[] } | { problem: string } | { unknown: true }

function valueOf(text: string, field: CronField): number | null {
  if (/^\d+$/.test(text)) return Number(text)
  const i = field.names?.indexOf(text.toLowerCase()) ?? -1
  return i >= 0 ? i + field.min : null
}

function outOfRange(n: number, field: CronField): string | undefined {
  if (n >= field.min && n <= field.max) return undefined
  return `${field.name.toLowerCase()} ${n} is not between ${field.min} and ${field.max}`
}

function readItem(item: string, field: CronField): ItemResult {
  const label = field.name.toLowerCase()
  const [base = '', step, extra] = item.split('/')
  if (extra !== undefined || base === '') return { unknown: true }
  let from: number
  let to: number
  const anyMark = base === '*' || (base === '?' && field.name.startsWith('Day of'))
  if (anyMark) {
    from = field.min
    to = field.max
  } else {
    const [a = '', b, more] = base.split('-')
    if (more !== undefined) return { unknown: true }
    const lo = valueOf(a, field)
    const hi = b === undefined ? lo : valueOf(b, field)
    if (lo === null || hi === null) return { unknown: true }
    const bad = outOfRange(lo, field) ?? (b === undefined ? undefined : outOfRange(hi, field))
    if (bad) return { problem: bad }
    if (hi < lo) return { problem: `${label} range ${a}-${b} goes backwards (write it low-high)` }
    from = lo
    // "5/15" means from 5 to the end in steps of 15.
    to = b === undefined && step !== undefined ? field.max : hi
  }
  let by = 1
  if (step !== undefined) {
    if (!/^\d+$/.test(step)) return { unknown: true }
    by = Number(step)
    if (by < 1) return { problem: `${label} step /${step} must be 1 or more` }
  }
  const values: number[] = []
  for (let n = from; n <= to; n += by) values.push(n)
  return { values }
}

function readField(text: string, field: CronField): FieldValues | { problem: string } | null {
  const any = text === '*' || text === '?'
  const seen = new Set<number>()
  for (const item of text.split(',')) {
    const r = readItem(item, field)
    if ('unknown' in r) return null
    if ('problem' in r) return r
    const values = field.name === 'Day of week' ? r.values.map((n) => (n === 7 ? 0 : n)) : r.values
    for (const n of values) {
      // The library refuses a value named twice by two items; say so the same way.
      if (seen.has(n) && text.includes(',')) {
        const sunday = field.name === 'Day of week' && n === 0 ? ' (0 and 7 are both Sunday)' : ''
        return { problem: `${field.name.toLowerCase()} ${n} is listed twice${sunday}` }
      }
    }
    for (const n of values) seen.add(n)
  }
  return { any, values: [...seen].sort((a, b) => a - b) }
}

/**
 * Reads a five-field expression ("minute hour day-of-month month day-of-week", already split on
 * blanks). Every bad field is named once, in field order, so all mistakes show together. A field
 * in syntax this reader does not know is a problem unless `accepts(index, text)` says it is fine.
 */
export function readCron(
  parts: readonly string[],
  accepts: (index: number, text: string) => boolean = () => false,
): CronReading {
  const problems: string[] = []
  const fields: (FieldValues | null)[] = []
  CRON_FIELDS.forEach((field, i) => {
    const text = parts[i] ?? ''
    const r = readField(text, field)
    if (r === null) {
      if (accepts(i, text)) fields.push(null)
      else problems.push(`${field.name.toLowerCase()} “${text}” is not a number, range or list`)
    } else if ('problem' in r) problems.push(r.problem)
    else fields.push(r)
  })
  return problems.length ? { ok: false, problems } : { ok: true, fields }
}

/** "Minute 61 is not between 0 and 59; hour 25 is not between 0 and 23." */
export function problemsSentence(problems: readonly string[]): string {
  const text = problems.join('; ')
  return text.charAt(0).toUpperCase() + text.slice(1) + '.'
}
