import { timingSafeEqual } from 'node:crypto'
import type { Db } from '../db/client.ts'
import type { Config } from '../config.ts'
import type { Tenant, User } from '../db/schema.ts'
import { getBackupToken, putBackupToken, setBackupTokenActiveFrom } from '../db/access.ts'
import { audit } from '../db/audit.ts'
import { generateSessionToken, hashToken } from '../auth/session.ts'
import { confirmPassword } from '../auth/throttle.ts'
import { notify } from '../notify/notify.ts'
import { ConflictError, InputError } from '../errors.ts'

/** The word typed to confirm, as in OpenProject's flow. */
export const CONFIRM_WORD = 'create'

export type TokenState =
  | { status: 'none' }
  | { status: 'active'; createdAt: Date }
  | { status: 'pending'; createdAt: Date; activeFrom: Date }

export type TokenCheck =
  { ok: true } | { ok: false; reason: 'missing' | 'invalid' | 'not_active'; activeFrom?: Date }

/** Who acts and from where, for the audit log. */
export type Actor = { actor: string; userId?: number | null; ip?: string | null }

/** Whether the tenant has a token, and since/from when it is valid. Never the token itself. */
export async function backupTokenState(
  db: Db,
  tenantId: number,
  now = new Date(),
): Promise<TokenState> {
  const row = await getBackupToken(db, tenantId)
  if (!row) return { status: 'none' }
  if (row.activeFrom.getTime() > now.getTime())
    return { status: 'pending', createdAt: row.createdAt, activeFrom: row.activeFrom }
  return { status: 'active', createdAt: row.createdAt }
}

/**
 * Creates or resets the tenant's backup token (OpenProject's flow). `confirm` must be the word
 * `create`; an account with a password must give it (throttled like sign-in, from
 * `who.ip`). An account without a password (single sign-on) gets a token that becomes valid only
 * after `config.tokenDelayHours`, unless an admin allows it now. Only the SHA-256 is stored;
 * the returned token is the only copy. Raises `token.created` / `token.reset` to every admin.
 * Throws InputError keyed `confirm` / `password`, storing nothing.
 */
export async function issueBackupToken(
  deps: { db: Db; config: Config },
  tenant: Tenant,
  user: User,
  input: { confirm: string; password: string },
  who: Actor,
): Promise<{ token: string; activeFrom: Date; reset: boolean }> {
  const { db, config } = deps
  const errors: Record<string, string> = {}
  if (input.confirm.trim() !== CONFIRM_WORD)
    errors.confirm = `Type the word “${CONFIRM_WORD}” to confirm.`
  if (user.passwordHash) {
    const refused = await confirmPassword(db, user, input.password, who.ip ?? 'unknown')
    if (refused) errors.password = refused.message
  }
  if (Object.keys(errors).length) throw new InputError(errors)
  const token = `bt_${generateSessionToken()}`
  const now = Date.now()
  const delayed = !user.passwordHash && config.tokenDelayHours > 0
  const activeFrom = new Date(delayed ? now + config.tokenDelayHours * 3600_000 : now)
  const { reset } = await putBackupToken(db, tenant.id, {
    userId: user.id,
    tokenHash: hashToken(token),
    activeFrom,
  })
  await audit(db, {
    ...who,
    tenantId: tenant.id,
    action: reset ? 'token.reset' : 'token.create',
    target: 'backup token',
    details: { activeFrom: activeFrom.toISOString(), delayed },
  })
  await notify(deps, {
    type: reset ? 'token.reset' : 'token.created',
    tenantId: tenant.id,
    by: user.username,
    activeFrom,
  })
  return { token, activeFrom, reset }
}

/** Checks a presented backup token against the tenant's stored hash, in constant time. */
export async function checkBackupToken(
  db: Db,
  tenantId: number,
  presented: string | undefined,
  now = new Date(),
): Promise<TokenCheck> {
  if (!presented) return { ok: false, reason: 'missing' }
  const row = await getBackupToken(db, tenantId)
  if (!row) return { ok: false, reason: 'invalid' }
  const given = Buffer.from(hashToken(presented), 'hex')
  const stored = Buffer.from(row.tokenHash, 'hex')
  if (given.length !== stored.length || !timingSafeEqual(given, stored))
    return { ok: false, reason: 'invalid' }
  if (row.activeFrom.getTime() > now.getTime())
    return { ok: false, reason: 'not_active', activeFrom: row.activeFrom }
  return { ok: true }
}

/**
 * Skips the waiting period of the tenant's token (an admin's decision, from the admin page or
 * `panel token allow-now`). `already` when it was valid anyway. ConflictError without a token.
 */
export async function allowBackupTokenNow(
  db: Db,
  tenant: Tenant,
  who: Actor,
): Promise<{ already: boolean }> {
  const state = await backupTokenState(db, tenant.id)
  if (state.status === 'none') throw new ConflictError(`“${tenant.name}” has no backup token yet.`)
  if (state.status === 'active') return { already: true }
  await setBackupTokenActiveFrom(db, tenant.id, new Date())
  await audit(db, {
    ...who,
    tenantId: tenant.id,
    action: 'token.allow_now',
    target: 'backup token',
  })
  return { already: false }
}
