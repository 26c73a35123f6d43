import { and, eq, gt } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { loginLinks, users, type User } from '../db/schema.ts'
import { generateSessionToken, hashToken } from './session.ts'

/** Creates a one-time sign-in link token (valid `hours`); only its hash is stored. */
export function createLoginLink(db: Db, userId: number, hours = 24): string {
  const token = generateSessionToken()
  const expiresAt = new Date(Date.now() + hours * 3600_000)
  db.insert(loginLinks)
    .values({ id: hashToken(token), userId, expiresAt })
    .run()
  return token
}

/** The user a live link belongs to, without using it up. */
export function peekLoginLink(db: Db, token: string): User | undefined {
  return db
    .select({ user: users })
    .from(loginLinks)
    .innerJoin(users, eq(loginLinks.userId, users.id))
    .where(and(eq(loginLinks.id, hashToken(token)), gt(loginLinks.expiresAt, new Date())))
    .get()?.user
}

/** Uses a link up: returns its user once, then never again. */
export function consumeLoginLink(db: Db, token: string): User | undefined {
  return db.transaction((tx) => {
    const user = peekLoginLink(tx as unknown as Db, token)
    tx.delete(loginLinks)
      .where(eq(loginLinks.id, hashToken(token)))
      .run()
    return user
  })
}
