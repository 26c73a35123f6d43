import { describe, expect, it } from 'vitest'
import { forgetPlan } from '../../src/engine/jobs/forget-plan.ts'

const none = { keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 }
const at = (iso: string) => new Date(iso)

/** The cases restic's own comparison (integration/forget-plan) cannot reach on purpose. */
describe('forgetPlan', () => {
  it('removes nothing when no rule is set (restic refuses to forget without a policy)', () => {
    const snaps = [{ id: 'a', time: at('2026-01-01T10:00:00Z') }]
    expect(forgetPlan(snaps, none, 'UTC')).toEqual({ remove: [], doubt: false })
  })

  it('keeps the newest of each day in the given zone', () => {
    const snaps = [
      { id: 'late', time: at('2026-03-01T23:30:00Z') }, // 2 March in Berlin
      { id: 'early', time: at('2026-03-01T22:30:00Z') }, // 1 March 23:30 in Berlin
      { id: 'noon', time: at('2026-03-01T12:00:00Z') },
    ]
    const keep = { ...none, keepDaily: 5 }
    expect(forgetPlan(snaps, keep, 'Europe/Berlin').remove).toEqual(['noon'])
    expect(forgetPlan(snaps, keep, 'UTC').remove.sort()).toEqual(['early', 'noon'])
  })

  it('two snapshots of one second are no doubt when both stay, a doubt when one goes', () => {
    const snaps = [
      { id: 'a', time: at('2026-01-01T10:00:00Z') },
      { id: 'b', time: at('2026-01-01T10:00:00Z') },
    ]
    expect(forgetPlan(snaps, { ...none, keepLast: 5 }, 'UTC')).toEqual({ remove: [], doubt: false })
    expect(forgetPlan(snaps, { ...none, keepLast: 1 }, 'UTC').doubt).toBe(true)
  })

  it('is in doubt about a time with milliseconds just before a local midnight', () => {
    const snaps = [{ id: 'a', time: at('2026-01-01T22:59:30.500Z') }] // 23:59:30 in Berlin
    expect(forgetPlan(snaps, { ...none, keepDaily: 1 }, 'Europe/Berlin').doubt).toBe(true)
    expect(forgetPlan(snaps, { ...none, keepDaily: 1 }, 'UTC').doubt).toBe(false)
  })
})
