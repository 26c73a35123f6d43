import { sha256 } from '@oslojs/crypto/sha2'
import { encodeBase32LowerCaseNoPadding, encodeHexLowerCase } from '@oslojs/encoding'
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { sessions, tenants, users, type Session, type Tenant, type User } from '../db/schema.ts'

const DAY = 24 * 60 * 60 * 1000
const LIFETIME = 30 * DAY

export type SessionValidationResult =
  | { session: Session; user: User; tenant: Tenant | null }
  | { session: null; user: null; tenant: null }

/** 20 random bytes, base32: the only copy lives in the user's cookie. */
export function generateSessionToken(): string {
  const bytes = new Uint8Array(20)
  crypto.getRandomValues(bytes)
  return encodeBase32LowerCaseNoPadding(bytes)
}

export function hashToken(token: string): string {
  return encodeHexLowerCase(sha256(new TextEncoder().encode(token)))
}

export async function createSession(db: Db, token: string, userId: number): Promise<Session> {
  const session = { id: hashToken(token), userId, expiresAt: new Date(Date.now() + LIFETIME) }
  return (await db.insert(sessions).values(session).returning())[0]
}

/**
 * Looks the token up by its hash. Expired sessions are deleted; sessions past half their
 * lifetime slide forward. A disabled tenant's sessions are not valid.
 */
export async function validateSessionToken(
  db: Db,
  token: string,
): Promise<SessionValidationResult> {
  const id = hashToken(token)
  const row = (
    await db
      .select({ session: sessions, user: users, tenant: tenants })
      .from(sessions)
      .innerJoin(users, eq(sessions.userId, users.id))
      .leftJoin(tenants, eq(users.tenantId, tenants.id))
      .where(eq(sessions.id, id))
  )[0]
  const none = { session: null, user: null, tenant: null } as const
  if (!row) return none
  const { session, user, tenant } = row
  if (Date.now() >= session.expiresAt.getTime() || tenant?.disabled) {
    await db.delete(sessions).where(eq(sessions.id, id))
    return none
  }
  if (Date.now() >= session.expiresAt.getTime() - LIFETIME / 2) {
    session.expiresAt = new Date(Date.now() + LIFETIME)
    await db.update(sessions).set({ expiresAt: session.expiresAt }).where(eq(sessions.id, id))
  }
  return { session, user, tenant }
}

export async function invalidateSession(db: Db, sessionId: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.id, sessionId))
}

export async function invalidateUserSessions(db: Db, userId: number): Promise<void> {
  await db.delete(sessions).where(eq(sessions.userId, userId))
}
