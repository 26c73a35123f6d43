// Dates and times in a tenant's time zone, for pages, run messages and file names. One
// formatter per zone and style: building an Intl.DateTimeFormat costs far more than using one,
// and a folder of hundreds of files formats hundreds of times.

const zones = new Map<string, string>()
const formats = new Map<string, Intl.DateTimeFormat>()

/** The zone to show times in: `zone`, or UTC when it is not one Intl knows. */
export function safeZone(zone: string): string {
  let safe = zones.get(zone)
  if (safe === undefined) {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: zone })
      safe = zone
    } catch {
      safe = 'UTC'
    }
    zones.set(zone, safe)
  }
  return safe
}

/** The server's own time zone (TZ, else the system's): provider schedules and admin pages. */
export function serverZone(): string {
  return safeZone(process.env.TZ || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC')
}

function partsOf(at: Date | string, zone: string, opts: Intl.DateTimeFormatOptions) {
  const date = typeof at === 'string' ? new Date(at) : at
  const key = `${zone}|${JSON.stringify(opts)}`
  let format = formats.get(key)
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone: safeZone(zone),
      hourCycle: 'h23',
      ...opts,
    })
    formats.set(key, format)
  }
  const parts = format.formatToParts(date)
  return (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? ''
}

const clock = { hour: '2-digit', minute: '2-digit' } as const
const seconds = { ...clock, second: '2-digit' } as const

/** "Tue 3 Dec 2026, 02:30" in `zone`: how a backup is named. */
export function snapshotWhen(at: Date | string, zone: string): string {
  const p = partsOf(at, zone, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    ...clock,
  })
  return `${p('weekday')} ${p('day')} ${p('month')} ${p('year')}, ${p('hour')}:${p('minute')}`
}

/** "3 Dec 2026, 09:30" in `zone`; with `seconds`, "3 Dec 2026, 09:30:01". */
export function dayTime(at: Date | string, zone: string, opts: { seconds?: boolean } = {}): string {
  if (opts.seconds) {
    const p = partsOf(at, zone, { day: 'numeric', month: 'short', year: 'numeric', ...seconds })
    return `${p('day')} ${p('month')} ${p('year')}, ${p('hour')}:${p('minute')}:${p('second')}`
  }
  const p = partsOf(at, zone, { day: 'numeric', month: 'short', year: 'numeric', ...clock })
  return `${p('day')} ${p('month')} ${p('year')}, ${p('hour')}:${p('minute')}`
}

/** "09:30:01" in `zone`: a log line's time. */
export function clockTime(at: Date | string, zone: string): string {
  const p = partsOf(at, zone, seconds)
  return `${p('hour')}:${p('minute')}:${p('second')}`
}

/** `{ year, month, day, hour, minute }`, zero-padded, in `zone`: for names such as `2026-12-03-0930`. */
export function stampParts(at: Date | string, zone: string) {
  const p = partsOf(at, zone, { year: 'numeric', month: '2-digit', day: '2-digit', ...clock })
  return { year: p('year'), month: p('month'), day: p('day'), hour: p('hour'), minute: p('minute') }
}

/** `2026-12-03-0930` in `zone`. */
export function stamp(at: Date | string, zone: string): string {
  const s = stampParts(at, zone)
  return `${s.year}-${s.month}-${s.day}-${s.hour}${s.minute}`
}

/** The wall-clock date and time of `at` in `zone`, as numbers (month 1-12). */
export function civil(at: Date | string, zone: string) {
  const p = partsOf(at, zone, { year: 'numeric', month: '2-digit', day: '2-digit', ...seconds })
  const n = (t: Intl.DateTimeFormatPartTypes) => Number(p(t))
  return {
    year: n('year'),
    month: n('month'),
    day: n('day'),
    hour: n('hour'),
    minute: n('minute'),
    second: n('second'),
  }
}

/** `2026-12-03`: the calendar day of `at` in `zone`. */
export function calendarDay(at: Date | string, zone: string): string {
  const s = stampParts(at, zone)
  return `${s.year}-${s.month}-${s.day}`
}

/**
 * `2026-12-03 02:30:00`, the wall-clock time of `at` in `zone`, or null within three hours of
 * a change of the zone's offset, where a wall-clock time may name two instants (how restic's
 * `--time` reads it with TZ set to the zone).
 */
export function wallClock(at: Date, zone: string): string | null {
  const offset = (t: number) => {
    const c = civil(new Date(t), zone)
    return (
      Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second) - Math.floor(t / 1000) * 1000
    )
  }
  const t = at.getTime()
  const o = offset(t)
  if (offset(t - 3 * 3600_000) !== o || offset(t + 3 * 3600_000) !== o) return null
  const c = civil(at, zone)
  const two = (n: number) => String(n).padStart(2, '0')
  return `${c.year}-${two(c.month)}-${two(c.day)} ${two(c.hour)}:${two(c.minute)}:${two(c.second)}`
}
