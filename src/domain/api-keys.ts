import type { Db } from '../db/client.ts'
import type { ApiKey, Tenant } from '../db/schema.ts'
import {
  countApiKeys,
  deleteApiKey,
  findApiKeyByHash,
  insertApiKey,
  touchApiKey,
} from '../db/access.ts'
import { audit } from '../db/audit.ts'
import { generateSessionToken, hashToken } from '../auth/session.ts'
import { InputError } from '../errors.ts'
import type { Actor } from './backup-token.ts'

/** Keys per tenant; enough for every script and server, few enough to review. */
export const MAX_API_KEYS = 20
const KEY_SHAPE = /^pk_[a-z2-7]{32}$/

/**
 * Creates an API key for the tenant. The returned `key` is the only copy: only its SHA-256 and
 * its first 11 characters (the prefix shown in lists and audit entries) are stored.
 * InputError keyed `name` on a blank or too long name, or when the tenant has MAX_API_KEYS.
 */
export async function createApiKey(
  db: Db,
  tenantId: number,
  rawName: string,
  who: Actor,
): Promise<{ key: string; row: ApiKey }> {
  const name = rawName.trim()
  if (!name) throw new InputError({ name: 'Give the key a name, like “nightly pull on nas”.' })
  if (name.length > 64) throw new InputError({ name: 'Use at most 64 characters.' })
  if ((await countApiKeys(db, tenantId)) >= MAX_API_KEYS) {
    throw new InputError({
      name: `You have ${MAX_API_KEYS} keys already; revoke one you no longer use first.`,
    })
  }
  const key = `pk_${generateSessionToken()}`
  const row = await insertApiKey(db, tenantId, {
    name,
    keyHash: hashToken(key),
    prefix: key.slice(0, 11),
  })
  await audit(db, { ...who, tenantId, action: 'apikey.create', target: `${name} (${row.prefix})` })
  return { key, row }
}

/** Revokes one of the tenant's keys at once; another tenant's key is a NotFoundError. */
export async function revokeApiKey(
  db: Db,
  tenantId: number,
  id: number,
  who: Actor,
): Promise<ApiKey> {
  const row = await deleteApiKey(db, tenantId, id)
  await audit(db, {
    ...who,
    tenantId,
    action: 'apikey.revoke',
    target: `${row.name} (${row.prefix})`,
  })
  return row
}

/**
 * The key and tenant a presented API key stands for, recording when it was last used; null for
 * a malformed, unknown or revoked key, or a disabled tenant.
 */
export async function authenticateApiKey(
  db: Db,
  presented: string,
): Promise<{ key: ApiKey; tenant: Tenant } | null> {
  if (!KEY_SHAPE.test(presented)) return null
  const found = await findApiKeyByHash(db, hashToken(presented))
  if (!found || found.tenant.disabled) return null
  await touchApiKey(db, found.tenant.id, found.key.id)
  return found
}
