import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import {
  createSession,
  generateSessionToken,
  hashToken,
  validateSessionToken,
} from '../../src/auth/session.ts'
import { sessions } from '../../src/db/schema.ts'
import { addTenant, freshDeps } from '../helpers.ts'

describe('sessions (Lucia recipe)', async () => {
  const deps = freshDeps()
  const tenant = await addTenant(deps, 'alice')
  const userId = (await deps.db.query.users.findFirst({
    where: (u, { eq }) => eq(u.tenantId, tenant.id),
  }))!.id

  it('stores only the SHA-256 of the token', async () => {
    const token = generateSessionToken()
    await createSession(deps.db, token, userId)
    const rows = await deps.db.select().from(sessions)
    expect(rows.some((r) => r.id === token)).toBe(false)
    expect(rows.some((r) => r.id === hashToken(token))).toBe(true)
    expect((await validateSessionToken(deps.db, token)).user?.id).toBe(userId)
    expect((await validateSessionToken(deps.db, token + 'x')).session).toBeNull()
  })

  it('deletes expired sessions and slides old ones forward', async () => {
    const expired = generateSessionToken()
    await createSession(deps.db, expired, userId)
    await deps.db
      .update(sessions)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(sessions.id, hashToken(expired)))
    expect((await validateSessionToken(deps.db, expired)).session).toBeNull()
    expect(
      (
        await deps.db
          .select()
          .from(sessions)
          .where(eq(sessions.id, hashToken(expired)))
      )[0],
    ).toBeUndefined()

    const old = generateSessionToken()
    await createSession(deps.db, old, userId)
    const soon = new Date(Date.now() + 3 * 24 * 3600_000)
    await deps.db
      .update(sessions)
      .set({ expiresAt: soon })
      .where(eq(sessions.id, hashToken(old)))
    const { session } = await validateSessionToken(deps.db, old)
    expect(session!.expiresAt.getTime()).toBeGreaterThan(Date.now() + 29 * 24 * 3600_000)
  })
})
