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

export function createSession(db: Db, token: string, userId: number): Session {
  const session = { id: hashToken(token), userId, expiresAt: new Date(Date.now() + LIFETIME) }
  return db.insert(sessions).values(session).returning().get()
}

/**
 * Looks the token up by its hash. Expired sessions are deleted; sessions past half their
 * lifetime slide forward. A disabled tenant's sessions are not valid.
 */
export function validateSessionToken(db: Db, token: string): SessionValidationResult {
  const id = hashToken(token)
  const row = db
    .select({ session: sessions, user: users, tenant: tenants })
    .from(sessions)
    .innerJoin(users, eq(sessions.userId, users.id))
    .leftJoin(tenants, eq(users.tenantId, tenants.id))
    .where(eq(sessions.id, id))
    .get()
  const none = { session: null, user: null, tenant: null } as const
  if (!row) return none
  const { session, user, tenant } = row
  if (Date.now() >= session.expiresAt.getTime() || tenant?.disabled) {
    db.delete(sessions).where(eq(sessions.id, id)).run()
    return none
  }
  if (Date.now() >= session.expiresAt.getTime() - LIFETIME / 2) {
    session.expiresAt = new Date(Date.now() + LIFETIME)
    db.update(sessions).set({ expiresAt: session.expiresAt }).where(eq(sessions.id, id)).run()
  }
  return { session, user, tenant }
}

export function invalidateSession(db: Db, sessionId: string): void {
  db.delete(sessions).where(eq(sessions.id, sessionId)).run()
}

export function invalidateUserSessions(db: Db, userId: number): void {
  db.delete(sessions).where(eq(sessions.userId, userId)).run()
}
