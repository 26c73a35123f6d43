import { and, eq, gt } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import { loginLinks, users, type User } from '../db/schema.ts'
import { generateSessionToken, hashToken } from './session.ts'

/** Creates a one-time sign-in link token (valid `hours`); only its hash is stored. */
export async function createLoginLink(db: Db, userId: number, hours = 24): Promise<string> {
  const token = generateSessionToken()
  const expiresAt = new Date(Date.now() + hours * 3600_000)
  await db.insert(loginLinks).values({ id: hashToken(token), userId, expiresAt })
  return token
}

/** The user a live link belongs to, without using it up. */
export async function peekLoginLink(db: Db, token: string): Promise<User | undefined> {
  return (
    await db
      .select({ user: users })
      .from(loginLinks)
      .innerJoin(users, eq(loginLinks.userId, users.id))
      .where(and(eq(loginLinks.id, hashToken(token)), gt(loginLinks.expiresAt, new Date())))
  )[0]?.user
}

/** Uses a link up: returns its user once, then never again. */
export async function consumeLoginLink(db: Db, token: string): Promise<User | undefined> {
  return await transaction(db, async (tx) => {
    const user = await peekLoginLink(tx as unknown as Db, token)
    await tx.delete(loginLinks).where(eq(loginLinks.id, hashToken(token)))
    return user
  })
}
