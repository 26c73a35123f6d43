import { describe, expect, it } from 'vitest'
import { describeSchedule, nextRuns } from '../../src/schedule.ts'
import {
  timeZones,
  canonicalZone,
  zoneLabel,
  zoneOffset,
  zoneProblem,
} from '../../src/time-zones.ts'
import { keepsSentence } from '../../views/format.ts'
import { clockTime, dayTime } from '../../src/zoned.ts'

describe('schedules as sentences', () => {
  it.each([
    ['0 * * * *', 'Hourly at :00'],
    ['30 2 * * *', 'Daily at 02:30'],
    ['0 3 * * *', 'Daily at 03:00'],
    ['0 4 * * 0', 'Every Sunday at 04:00'],
    ['0 4 * * 7', 'Every Sunday at 04:00'],
    ['0 4 * * sun', 'Every Sunday at 04:00'],
    ['0 3 1 * *', 'On the 1st of each month at 03:00'],
    ['0 3 2,22 * *', 'On the 2nd and 22nd of each month at 03:00'],
    ['15 22 * * 1-5', 'Weekdays at 22:15'],
    ['15 22 * * MON-FRI', 'Weekdays at 22:15'],
    ['0 10 * * 0,6', 'Weekends at 10:00'],
    ['30 2 * * 1,4', 'At 02:30 on Mon and Thu'],
    ['0 2,14 * * *', 'Daily at 02:00 and 14:00'],
    ['*/15 * * * *', 'Every 15 minutes'],
    ['* * * * *', 'Every minute'],
    ['0 */6 * * *', 'Every 6 hours at :00'],
    ['5,35 * * * *', 'Hourly at :05 and :35'],
    ['0 * * * 1', 'Hourly at :00 on Mondays'],
    ['0 9-17 * * 1-5', 'Hourly at :00 from 09:00 to 17:00 on weekdays'],
    ['0 3 1 1,7 *', 'On the 1st of Jan and Jul at 03:00'],
    ['0 3 * 12 *', 'Daily at 03:00, only in Dec'],
    ['  30   2 * *  * ', 'Daily at 02:30'],
    // Too subtle for a short sentence, or syntax only the cron library knows: said as it is.
    ['0 3 1 * 1', 'Custom: 0 3 1 * 1'],
    ['0 0 L * *', 'Custom: 0 0 L * *'],
    ['7,9,11 1,2 * * *', 'Custom: 7,9,11 1,2 * * *'],
    ['61 * * * *', 'Custom: 61 * * * *'],
    ['@daily', 'Custom: @daily'],
  ])('%j reads "%s"', (cron, words) => expect(describeSchedule(cron)).toBe(words))
})

describe('a bad cron expression', () => {
  const error = (cron: string) => {
    const r = nextRuns(cron, 'UTC')
    return r.ok ? 'ok' : r.error
  }
  it.each([
    ['61 25 * * *', 'Minute 61 is not between 0 and 59; hour 25 is not between 0 and 23.'],
    [
      '61 25 32 13 8',
      'Minute 61 is not between 0 and 59; hour 25 is not between 0 and 23; day of month 32 is not between 1 and 31; month 13 is not between 1 and 12; day of week 8 is not between 0 and 7.',
    ],
    ['0 0 0 * *', 'Day of month 0 is not between 1 and 31.'],
    ['x 3 * * *', 'Minute “x” is not a number, range or list.'],
    ['1-60/5 * * * *', 'Minute 60 is not between 0 and 59.'],
    ['*/0 * * * *', 'Minute step /0 must be 1 or more.'],
    ['0 22-2 * * *', 'Hour range 22-2 goes backwards (write it low-high).'],
    ['1,1 * * * *', 'Minute 1 is listed twice.'],
    ['0 0 * * sun,7', 'Day of week 0 is listed twice (0 and 7 are both Sunday).'],
    ['0 0 31 2 *', 'This schedule never runs: none of its months has that day of the month.'],
    ['every day', 'Use five fields: minute hour day-of-month month day-of-week, e.g. 30 2 * * *.'],
  ])('%j: %s', (cron, message) => expect(error(cron)).toBe(message))

  it('names every bad field once and never the library’s own words', () => {
    const message = error('61 25 * * 9')
    expect(message.match(/minute|hour|day of week/gi)).toHaveLength(3)
    expect(message).not.toMatch(/Constraint|expected range|got value/)
  })

  it('still takes what the library knows beyond plain cron', () => {
    expect(nextRuns('0 0 L * *', 'UTC').ok).toBe(true)
    expect(nextRuns('0 0 * * 1#2', 'UTC').ok).toBe(true)
    expect(error('61 0 L * *')).toBe('Minute 61 is not between 0 and 59.')
    expect(error('61 L * * *')).toBe(
      'Minute 61 is not between 0 and 59; hour “L” is not a number, range or list.',
    )
  })

  it('sends a bad time zone to the time zone field', () => {
    expect(nextRuns('0 3 * * *', 'Mars/Base')).toMatchObject({ ok: false, field: 'timezone' })
    expect(nextRuns('99 3 * * *', 'UTC')).toMatchObject({ ok: false, field: 'cron' })
  })
})

describe('time zones', () => {
  it('lists the current names, Kolkata and Kyiv among them, and not the retired ones', () => {
    expect(timeZones()[0]).toBe('UTC')
    for (const zone of ['Asia/Kolkata', 'Europe/Kyiv', 'Asia/Ho_Chi_Minh', 'America/Nuuk'])
      expect(timeZones()).toContain(zone)
    for (const zone of ['Asia/Calcutta', 'Europe/Kiev', 'Asia/Saigon'])
      expect(timeZones()).not.toContain(zone)
    expect(new Set(timeZones()).size).toBe(timeZones().length)
    expect(timeZones().length).toBeGreaterThan(400)
  })

  it('accepts old and new names and saves the new one', () => {
    expect(canonicalZone('Asia/Kolkata')).toBe('Asia/Kolkata')
    expect(canonicalZone('Asia/Calcutta')).toBe('Asia/Kolkata')
    expect(canonicalZone('Europe/Kyiv')).toBe('Europe/Kyiv')
    expect(canonicalZone('Europe/Kiev')).toBe('Europe/Kyiv')
    expect(canonicalZone(' europe/berlin ')).toBe('Europe/Berlin')
    expect(canonicalZone('Etc/UTC')).toBe('UTC')
    expect(canonicalZone('Mars/Base')).toBeNull()
    expect(canonicalZone('')).toBeNull()
    expect(zoneProblem('Asia/Calcutta')).toBeUndefined()
    expect(zoneProblem('Mars/Base')).toMatch(/“Mars\/Base” is not a time zone/)
    expect(nextRuns('0 3 * * *', 'Europe/Kyiv').ok).toBe(true)
  })

  it('shows each zone with its UTC offset at the time asked', () => {
    const winter = new Date('2026-01-15T12:00:00Z')
    const summer = new Date('2026-07-15T12:00:00Z')
    expect(zoneLabel('Europe/Berlin', winter)).toBe('Europe/Berlin (UTC+01:00)')
    expect(zoneLabel('Europe/Berlin', summer)).toBe('Europe/Berlin (UTC+02:00)')
    expect(zoneLabel('Asia/Calcutta', winter)).toBe('Asia/Kolkata (UTC+05:30)')
    expect(zoneLabel('Europe/Kiev', summer)).toBe('Europe/Kyiv (UTC+03:00)')
    expect(zoneOffset('America/New_York', winter)).toBe('UTC-05:00')
    expect(zoneOffset('UTC', winter)).toBe('UTC+00:00')
    expect(zoneLabel('Etc/UTC', winter)).toBe('UTC')
  })

  it('formats log times and dates in the zone', () => {
    const at = new Date('2026-12-03T09:30:01Z')
    expect(clockTime(at, 'Europe/Berlin')).toBe('10:30:01')
    expect(clockTime(at, 'Asia/Kolkata')).toBe('15:00:01')
    expect(dayTime(at, 'Europe/Berlin', { seconds: true })).toBe('3 Dec 2026, 10:30:01')
  })
})

describe('retention in one line', () => {
  const keeps = (keepLast = 0, keepDaily = 0, keepWeekly = 0, keepMonthly = 0, keepYearly = 0) =>
    keepsSentence({ keepLast, keepDaily, keepWeekly, keepMonthly, keepYearly })
  it.each([
    [[0, 7, 4, 12], 'Keeps 7 daily, 4 weekly and 12 monthly backups: about a year'],
    [[10], 'Keeps the last 10 backups'],
    [[1], 'Keeps the last backup'],
    [[0, 7], 'Keeps 7 daily backups: about a week'],
    [[0, 1], 'Keeps 1 daily backup: about a day'],
    [[0, 14], 'Keeps 14 daily backups: about 2 weeks'],
    [[0, 0, 4], 'Keeps 4 weekly backups: about a month'],
    [[0, 0, 0, 6], 'Keeps 6 monthly backups: about 6 months'],
    [[0, 0, 0, 0, 3], 'Keeps 3 yearly backups: about 3 years'],
    [[3, 7, 4], 'Keeps the last 3 backups plus 7 daily and 4 weekly backups: about a month'],
    [[0, 7, 4, 12, 2], 'Keeps 7 daily, 4 weekly, 12 monthly and 2 yearly backups: about 2 years'],
    [[0], 'Keeps nothing'],
  ])('%j → %s', (n, words) => expect(keeps(...(n as number[]))).toBe(words))
})
