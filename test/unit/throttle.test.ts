import { describe, expect, it } from 'vitest'
import {
  RULES,
  admitAttempt,
  attemptSucceeded,
  confirmPassword,
  delayAfter,
  pruneThrottle,
  waitMessage,
} from '../../src/auth/throttle.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { loginThrottle } from '../../src/db/schema.ts'
import { freshDeps } from '../helpers.ts'

const T0 = Date.UTC(2030, 0, 1)

/** Tries as soon as allowed `count` times (every attempt fails); the waits demanded, in seconds. */
async function hammer(db: ReturnType<typeof freshDeps>['db'], accounts: string[], address: string) {
  let now = T0
  const waits: number[] = []
  for (const account of accounts) {
    const wait = await admitAttempt(db, account, address, now)
    if (wait > 0) {
      waits.push(wait / 1000)
      now += wait
      expect(await admitAttempt(db, account, address, now)).toBe(0)
    }
  }
  return { waits, now }
}

describe('sign-in throttle rules', () => {
  it('waits nothing for the first failures, then doubles from 1 s up to the cap', () => {
    const pair = [...Array(10).keys()].map((f) => delayAfter(f, RULES.pair) / 1000)
    expect(pair).toEqual([0, 0, 0, 1, 2, 4, 8, 16, 30, 30])
    const address = [...Array(18).keys()].map((f) => delayAfter(f, RULES.address) / 1000)
    expect(address).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60])
    expect(waitMessage(1)).toBe('Too many attempts: try again in 1 second.')
    expect(waitMessage(29_001)).toBe('Too many attempts: try again in 30 seconds.')
  })

  it('slows one address guessing one account: 2 s apart, then the pair and address waits', async () => {
    const { db } = freshDeps()
    const { waits } = await hammer(db, Array(18).fill('alice'), '192.0.2.1')
    // Two at once; the account's spacing (2 s) until the pair's waits pass it, then the address's.
    expect(waits).toEqual([2, 2, 2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30, 32, 60, 60])
  })

  it('slows a password spray from one address to one attempt a minute', async () => {
    const { db } = freshDeps()
    const accounts = [...Array(20).keys()].map((i) => `user${i}`)
    const { waits } = await hammer(db, accounts, '192.0.2.1')
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60, 60])
  })

  it('never holds an address without failures, whatever others did', async () => {
    const { db } = freshDeps()
    const { now } = await hammer(db, Array(30).fill('alice'), '192.0.2.1')
    for (let i = 0; i < 20; i++) await admitAttempt(db, 'alice', `198.51.100.${i}`, now)
    expect(await admitAttempt(db, 'alice', '203.0.113.9', now)).toBe(0)
    await attemptSucceeded(db, 'alice', '203.0.113.9', now)
    // Those 20 addresses have one failure each now: they share the account's 2 s spacing.
    expect(await admitAttempt(db, 'alice', '198.51.100.1', now)).toBe(2000)
    expect(await admitAttempt(db, 'alice', '198.51.100.1', now + 2000)).toBe(0)
    expect(await admitAttempt(db, 'alice', '198.51.100.2', now + 2000)).toBe(2000)
    expect(await admitAttempt(db, 'alice', '203.0.113.9', now + 2000)).toBe(0)
  })

  it('counts an attempt before its answer, so parallel guesses cannot slip in', async () => {
    const { db } = freshDeps()
    const waits = await Promise.all(
      [...Array(6).keys()].map(() => admitAttempt(db, `a${Math.random()}`, '::1', T0)),
    )
    expect(waits.filter((w) => w > 0)).toEqual([])
    const more = await Promise.all(
      [...Array(10).keys()].map(() => admitAttempt(db, 'bob', '::1', T0)),
    )
    expect(more.filter((w) => w === 0)).toHaveLength(2) // the first, then the 2 s spacing
  })

  it('forgets the pair after a success and failures after 15 minutes', async () => {
    const { db } = freshDeps()
    for (const at of [0, 2000, 4000])
      expect(await admitAttempt(db, 'carol', '::1', T0 + at)).toBe(0)
    expect(await admitAttempt(db, 'carol', '::1', T0 + 5000)).toBe(1000) // the spacing, 2 s after 4 s
    expect(await admitAttempt(db, 'carol', '::1', T0 + 6000)).toBe(0)
    const now = T0 + 6000
    expect(await admitAttempt(db, 'carol', '::1', now)).toBe(2000) // 4 failures: 2 s
    expect(await admitAttempt(db, 'carol', '::1', now + 2000)).toBe(0) // (this one is right)
    await attemptSucceeded(db, 'carol', '::1', now + 2000)
    expect(await admitAttempt(db, 'carol', '::1', now + 2000)).toBe(0)
    for (const at of [2000, 4000, 6000, 8000]) await admitAttempt(db, 'dave', '::1', now + at)
    expect(await admitAttempt(db, 'dave', '::1', now + 8000)).toBeGreaterThan(0)
    expect(await admitAttempt(db, 'dave', '::1', now + 8000 + RULES.windowMs + 1)).toBe(0)
    await pruneThrottle(db, now + 3 * RULES.windowMs)
    expect(await db.select().from(loginThrottle)).toEqual([])
  })

  it('stores no account name in the clear', async () => {
    const { db } = freshDeps()
    await admitAttempt(db, 'my secret password', '::1', T0)
    const keys = (await db.select().from(loginThrottle)).map((r) => r.key)
    expect(keys.join(' ')).not.toContain('secret')
    expect(keys).toContain('address:::1')
  })

  it('throttles re-confirming a password like sign-in, per address', async () => {
    const { db } = freshDeps()
    const user = { username: 'dora', passwordHash: await hashPassword('right password 1') }
    for (const at of [0, 2000, 4000])
      expect((await confirmPassword(db, user, 'wrong', '::1', T0 + at))?.throttled).toBe(false)
    expect(await confirmPassword(db, user, 'right password 1', '::1', T0 + 5000)).toEqual({
      message: 'Too many attempts: try again in 1 second.',
      throttled: true,
    })
    expect(await confirmPassword(db, user, 'right password 1', '::2', T0 + 5000)).toBeNull()
    expect(await confirmPassword(db, user, 'right password 1', '::1', T0 + 6000)).toBeNull()
  })
})
