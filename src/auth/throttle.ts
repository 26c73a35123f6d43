import { createHash } from 'node:crypto'
import { eq, lt } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import { loginThrottle } from '../db/schema.ts'
import { verifyPassword } from './password.ts'

/**
 * How sign-in slows guessing (OWASP Authentication Cheat Sheet): waits, never locks. The README's
 * "Sign-in throttling" states the same numbers.
 */
export const RULES = {
  /** Failures are forgotten once this long has passed since the last one. */
  windowMs: 15 * 60_000,
  /** Per account and address: after the 3rd failure wait 1 s, then 2, 4, 8, 16, at most 30 s. */
  pair: { free: 3, capMs: 30_000 },
  /** Per address, whatever the accounts: after the 10th failure 1 s, doubling to at most 60 s. */
  address: { free: 10, capMs: 60_000 },
  /** Per account, for addresses with failures against it: at most one attempt every 2 s. */
  accountSpacingMs: 2_000,
} as const

type Row = { failures: number; lastAt: number }

/** The milliseconds to wait after `failures` failures in a row under a rule. */
export function delayAfter(failures: number, rule: { free: number; capMs: number }): number {
  if (failures < rule.free) return 0
  return Math.min(1000 * 2 ** (failures - rule.free), rule.capMs)
}

/** Throttle keys for one attempt; the typed account name is hashed (it may be a password). */
function keysOf(account: string, address: string) {
  const name = createHash('sha256').update(account).digest('hex')
  return {
    pair: `pair:${name}@${address}`,
    address: `address:${address}`,
    account: `account:${name}`,
  }
}

async function read(db: Db, key: string, now: number): Promise<Row> {
  const row = (await db.select().from(loginThrottle).where(eq(loginThrottle.key, key)))[0]
  if (!row || now - row.lastAt.getTime() > RULES.windowMs) return { failures: 0, lastAt: 0 }
  return { failures: row.failures, lastAt: row.lastAt.getTime() }
}

async function write(db: Db, key: string, row: Row): Promise<void> {
  const values = { failures: row.failures, lastAt: new Date(row.lastAt) }
  await db
    .insert(loginThrottle)
    .values({ key, ...values })
    .onConflictDoUpdate({ target: loginThrottle.key, set: values })
}

/**
 * Asks to try a password for `account` from `address` at `now`. Returns the milliseconds to wait
 * first (nothing is checked or counted then), or 0: go ahead. An admitted attempt is counted as
 * a failure before the password is checked, so guesses sent in parallel cannot slip in between;
 * `attemptSucceeded` takes it back. An address with no failures against the account is never
 * held by the account's spacing, so one address cannot keep an owner out from another.
 */
export async function admitAttempt(
  db: Db,
  account: string,
  address: string,
  now: number,
): Promise<number> {
  const keys = keysOf(account, address)
  return await transaction(db, async (tx) => {
    const pair = await read(tx, keys.pair, now)
    const from = await read(tx, keys.address, now)
    const acct = await read(tx, keys.account, now)
    const until = Math.max(
      pair.lastAt + delayAfter(pair.failures, RULES.pair),
      from.lastAt + delayAfter(from.failures, RULES.address),
      pair.failures > 0 ? acct.lastAt + RULES.accountSpacingMs : 0,
    )
    if (until > now) return until - now
    await write(tx, keys.pair, { failures: pair.failures + 1, lastAt: now })
    await write(tx, keys.address, { failures: from.failures + 1, lastAt: now })
    if (pair.failures > 0) await write(tx, keys.account, { failures: 0, lastAt: now })
    return 0
  })
}

/** The password was right: forgets the pair's failures and takes this attempt off the address. */
export async function attemptSucceeded(
  db: Db,
  account: string,
  address: string,
  now: number,
): Promise<void> {
  const keys = keysOf(account, address)
  await transaction(db, async (tx) => {
    await tx.delete(loginThrottle).where(eq(loginThrottle.key, keys.pair))
    const from = await read(tx, keys.address, now)
    if (from.failures > 0) await write(tx, keys.address, { ...from, failures: from.failures - 1 })
  })
}

/** "1 second", "30 seconds": a wait in whole seconds, rounded up, for pages and Retry-After. */
export function waitSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000))
}

/** The throttle's answer in plain words. */
export function waitMessage(ms: number): string {
  const s = waitSeconds(ms)
  return `Too many attempts: try again in ${s} ${s === 1 ? 'second' : 'seconds'}.`
}

/** Drops counters that have decayed (nothing counted for a whole window). */
export async function pruneThrottle(db: Db, now = Date.now()): Promise<void> {
  await db.delete(loginThrottle).where(lt(loginThrottle.lastAt, new Date(now - RULES.windowMs)))
}

/**
 * Re-confirms a signed-in user's password before a sensitive step (recovery kit, backup token),
 * throttled like sign-in from the same address. Null when it matches, else the message to show
 * beside the password field and whether it was a wait (nothing was checked).
 */
export async function confirmPassword(
  db: Db,
  user: { username: string; passwordHash: string | null },
  password: string,
  address: string,
  now = Date.now(),
): Promise<{ message: string; throttled: boolean } | null> {
  if (!password) return { message: 'Enter your account password.', throttled: false }
  const wait = await admitAttempt(db, user.username, address, now)
  if (wait > 0) return { message: waitMessage(wait), throttled: true }
  if (!(await verifyPassword(user.passwordHash, password)))
    return { message: 'That is not your password.', throttled: false }
  await attemptSucceeded(db, user.username, address, now)
  return null
}
