import { describe, expect, it } from 'vitest'
import { homeDirProblem, tenantNameProblem } from '../../src/names.ts'
import { nextRuns, presetOf } from '../../src/schedule.ts'

describe('tenant names', () => {
  it.each(['alice', 'shop-2', 'a_b'])('accepts %s', (n) =>
    expect(tenantNameProblem(n)).toBeUndefined(),
  )
  it.each(['', 'a', 'Alice', '../x', 'a b', 'x;rm', '-x', '1abc', 'a'.repeat(33), 'ä1'])(
    'refuses %j',
    (n) => expect(tenantNameProblem(n)).toBeTypeOf('string'),
  )
})

describe('home directories', () => {
  it.each(['/home/alice', '/srv/www/shop'])('accepts %s', (d) =>
    expect(homeDirProblem(d)).toBeUndefined(),
  )
  it.each(['home/alice', '/home/../etc', '/home//a', '/', '/home/./a'])('refuses %s', (d) =>
    expect(homeDirProblem(d)).toBeTypeOf('string'),
  )
})

describe('schedules', () => {
  it('computes run times in the tenant time zone, across a DST change', () => {
    const from = new Date('2026-03-27T12:00:00Z')
    const r = nextRuns('0 3 * * *', 'Europe/Berlin', 3, from)
    expect(r.ok && r.next.map((d) => d.toISOString())).toEqual([
      '2026-03-28T02:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T01:00:00.000Z',
    ])
  })

  it('explains bad expressions', () => {
    expect(nextRuns('61 * * * *', 'UTC')).toMatchObject({
      ok: false,
      error: 'Minute 61 is not between 0 and 59.',
    })
    expect(nextRuns('every day', 'UTC')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/five fields/),
    })
    expect(nextRuns('* * * * *', 'Mars/Base')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/time zone/),
    })
  })

  it('recognises presets', () => {
    expect(presetOf('0 3 * * *')).toBe('daily')
    expect(presetOf('5 4 * * 1')).toBe('custom')
  })
})
