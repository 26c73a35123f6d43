import type { SelfBackupSettings } from '../../db/self-backup.ts'

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/

/** `HH:MM` (24 h) or a message saying what to type. */
export function dailyTimeProblem(time: string): string | undefined {
  return TIME.test(time) ? undefined : 'Use a time like 03:00 (24-hour clock).'
}

/** The day's run at `time` in the server's zone, `days` after the day of `now`. */
function at(now: Date, time: string, days: number): Date {
  const [, h, m] = TIME.exec(time) ?? [, '3', '0']
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() + days, Number(h), Number(m))
}

/** A local date as `YYYY-MM-DD`: one daily slot per server day. */
function dayKey(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/**
 * The daily slot due at `now` (the server day whose `time` has passed most recently), or null
 * when the schedule is off, has no destination, or that time came before the settings were
 * saved (turning it on at 15:00 for 03:00 waits for tomorrow, as a new policy does).
 */
export function dueDailySlot(settings: SelfBackupSettings, now = new Date()): string | null {
  if (!settings.enabled || settings.destinationId === null) return null
  const today = at(now, settings.time, 0)
  const slot = today.getTime() <= now.getTime() ? today : at(now, settings.time, -1)
  if (slot.getTime() < settings.savedAt) return null
  return dayKey(slot)
}

/** When the daily self-backup runs next, or null when it is off. */
export function nextDailyRun(
  settings: SelfBackupSettings,
  lastSlot: string | null,
  now = new Date(),
): Date | null {
  if (!settings.enabled || settings.destinationId === null) return null
  const due = dueDailySlot(settings, now)
  if (due && due !== lastSlot) return now
  const today = at(now, settings.time, 0)
  return today.getTime() > now.getTime() ? today : at(now, settings.time, 1)
}
