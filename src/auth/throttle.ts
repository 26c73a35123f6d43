import { eq, lt } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { loginThrottle } from '../db/schema.ts'
import { verifyPassword } from './password.ts'

const WINDOW = 15 * 60 * 1000

/** Failures allowed per window before a key is locked, per kind of key. */
export const LIMITS = { user: 5, ip: 30 } as const

export type ThrottleKey = `${keyof typeof LIMITS}:${string}`

/** Milliseconds until the first of the keys unlocks, or 0 when none is locked. */
export function lockedFor(db: Db, keys: ThrottleKey[], now = Date.now()): number {
  let wait = 0
  for (const key of keys) {
    const row = db.select().from(loginThrottle).where(eq(loginThrottle.key, key)).get()
    const until = row?.lockedUntil?.getTime() ?? 0
    if (until > now) wait = Math.max(wait, until - now)
  }
  return wait
}

/**
 * Counts a failed sign-in against each key. Reaching the limit locks the key for the window;
 * each further lock in a row doubles (capped at a day) through the failure count.
 */
export function recordFailure(db: Db, keys: ThrottleKey[], now = Date.now()): void {
  db.transaction((tx) => {
    for (const key of keys) {
      const limit = LIMITS[key.slice(0, key.indexOf(':')) as keyof typeof LIMITS]
      const row = tx.select().from(loginThrottle).where(eq(loginThrottle.key, key)).get()
      const fresh = !row || now - row.windowStart.getTime() > WINDOW * 4
      const failures = fresh ? 1 : row.failures + 1
      const windowStart = fresh ? new Date(now) : row.windowStart
      const over = failures - limit
      const lockedUntil =
        over >= 0 ? new Date(now + Math.min(WINDOW * 2 ** Math.min(over, 7), 24 * 3600_000)) : null
      tx.insert(loginThrottle)
        .values({ key, failures, windowStart, lockedUntil })
        .onConflictDoUpdate({
          target: loginThrottle.key,
          set: { failures, windowStart, lockedUntil },
        })
        .run()
    }
  })
}

export function clearFailures(db: Db, key: ThrottleKey): void {
  db.delete(loginThrottle).where(eq(loginThrottle.key, key)).run()
}

/** Drops counters nobody has touched for a day. */
export function pruneThrottle(db: Db, now = Date.now()): void {
  db.delete(loginThrottle)
    .where(lt(loginThrottle.windowStart, new Date(now - 24 * 3600_000)))
    .run()
}

/**
 * Re-confirms a signed-in user's password before a sensitive step (recovery kit, backup token),
 * throttled like sign-in: wrong guesses count towards the same lock. Null when it matches, else
 * the message to show beside the password field and whether the account is locked for now.
 */
export async function confirmPassword(
  db: Db,
  user: { username: string; passwordHash: string | null },
  password: string,
): Promise<{ message: string; locked: boolean } | null> {
  const key: ThrottleKey = `user:${user.username}`
  if (lockedFor(db, [key]) > 0)
    return { message: 'Too many wrong passwords. Try again later.', locked: true }
  if (!password) return { message: 'Enter your account password.', locked: false }
  if (await verifyPassword(user.passwordHash, password)) return null
  recordFailure(db, [key])
  return { message: 'That is not your password.', locked: false }
}
