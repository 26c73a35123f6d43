import { describe, expect, it } from 'vitest'
import { desc } from 'drizzle-orm'
import { auditLog } from '../../src/db/schema.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'

/** A panel whose clock the test moves, so waits are asserted, never slept through. */
async function panel() {
  let now = Date.UTC(2030, 0, 1)
  const deps = { ...freshDeps(), now: () => now }
  await addTenant(deps, 'alice')
  await addTenant(deps, 'bob')
  const client = (address: string) => Object.assign(new Client(deps), { address })
  return { deps, client, tick: (ms: number) => (now += ms) }
}

/** A sign-in attempt: its status and, for a 429, the seconds Retry-After demands. */
async function signIn(c: Client, username: string, password: string) {
  const res = await c.post('/login', { username, password })
  return { ...res, retryAfter: Number(res.headers.get('retry-after') ?? 0) }
}

describe('sign-in throttling', () => {
  it('answers a wait in plain words, with 429, Retry-After and the form kept', async () => {
    const { client } = await panel()
    const c = client('192.0.2.10')
    for (let i = 0; i < 2; i++) expect((await signIn(c, 'alice', 'wrong')).status).toBe(401)
    const res = await signIn(c, 'alice', PASSWORD)
    expect(res.status).toBe(429)
    expect(res.retryAfter).toBe(2)
    expect(res.body).toContain('Too many attempts: try again in 2 seconds.')
    expect(res.body).toContain('value="alice"')
    expect(res.body).toContain('name="password"')
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('lets the owner in from another address after 30 failures from one', async () => {
    const { client, tick } = await panel()
    const attacker = client('192.0.2.66')
    let failures = 0
    while (failures < 30) {
      const res = await signIn(attacker, 'alice', 'guess ' + failures)
      if (res.status === 429) {
        tick(res.retryAfter * 1000)
        continue
      }
      expect(res.status).toBe(401)
      failures++
    }
    expect((await signIn(attacker, 'alice', PASSWORD)).status).toBe(429)
    const owner = client('198.51.100.5')
    const res = await signIn(owner, 'alice', PASSWORD)
    expect(res.status).toBe(303)
    expect(res.location).toBe('/backups')
  })

  it('lets the owner in from a clean address while an attacker hammers the account', async () => {
    const { client } = await panel()
    const bots = [...Array(8).keys()].map((i) => client(`203.0.113.${i + 1}`))
    const owner = client('198.51.100.7')
    for (let round = 0; round < 5; round++) {
      const answers = []
      for (const bot of bots) answers.push((await signIn(bot, 'alice', `guess ${round}`)).status)
      for (const bot of bots) answers.push((await signIn(bot, 'alice', `again ${round}`)).status)
      // Each bot's first guess, then one every 2 s for all of them together (no time passes here).
      const allowed = round === 0 ? 9 : 0
      expect(answers.filter((s) => s === 401)).toHaveLength(allowed)
      expect(answers.filter((s) => s === 429)).toHaveLength(16 - allowed)
      const res = await signIn(owner, 'alice', PASSWORD)
      expect(res.status).toBe(303)
      owner.cookies.clear()
    }
  })

  it('slows a password spray from one address to one attempt a minute', async () => {
    const { client, tick } = await panel()
    const sprayer = client('192.0.2.99')
    const demanded: number[] = []
    let tried = 0
    while (tried < 20) {
      const res = await signIn(sprayer, `user${tried}`, 'Summer2030!')
      if (res.status === 429) {
        demanded.push(res.retryAfter)
        tick(res.retryAfter * 1000)
      } else {
        expect(res.status).toBe(401)
        tried++
      }
    }
    expect(demanded).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60, 60])
    // Another address is not held by any of it.
    expect((await signIn(client('192.0.2.100'), 'bob', PASSWORD)).status).toBe(303)
  })

  it('records throttled attempts in the audit log without checking the password', async () => {
    const { deps, client } = await panel()
    const c = client('192.0.2.12')
    await signIn(c, 'bob', 'wrong')
    await signIn(c, 'bob', 'wrong')
    await signIn(c, 'bob', PASSWORD)
    const last = await deps.db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(3)
    expect(last.map((e) => [e.action, e.ip, e.details])).toEqual([
      ['login.failed', '192.0.2.12', { reason: 'throttled' }],
      ['login.failed', '192.0.2.12', { reason: 'wrong password' }],
      ['login.failed', '192.0.2.12', { reason: 'wrong password' }],
    ])
  })
})
