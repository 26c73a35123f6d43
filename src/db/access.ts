import { and, desc, eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction, rowsChanged } from './tx.ts'
import { apiKeys, backupTokens, tenants, type ApiKey, type Tenant } from './schema.ts'
import { NotFoundError } from '../errors.ts'

export type BackupTokenRow = typeof backupTokens.$inferSelect

/** The tenant's backup token row (hash and activation time), if one was ever created. */
export async function getBackupToken(
  db: Db,
  tenantId: number,
): Promise<BackupTokenRow | undefined> {
  return (await db.select().from(backupTokens).where(eq(backupTokens.tenantId, tenantId)))[0]
}

/**
 * Stores a new token hash for the tenant, replacing the previous one (one token per tenant, so
 * a reset invalidates the old token at once). `reset` tells whether one existed before.
 */
export async function putBackupToken(
  db: Db,
  tenantId: number,
  fields: { userId: number | null; tokenHash: string; activeFrom: Date },
): Promise<{ reset: boolean }> {
  return await transaction(db, async (tx) => {
    const reset = Boolean(
      (
        await tx
          .select({ id: backupTokens.tenantId })
          .from(backupTokens)
          .where(eq(backupTokens.tenantId, tenantId))
      )[0],
    )
    const row = { tenantId, ...fields, createdAt: new Date() }
    await tx
      .insert(backupTokens)
      .values(row)
      .onConflictDoUpdate({
        target: backupTokens.tenantId,
        set: {
          userId: row.userId,
          tokenHash: row.tokenHash,
          activeFrom: row.activeFrom,
          createdAt: row.createdAt,
        },
      })
    return { reset }
  })
}

/** Makes the tenant's token valid from `at`; false when the tenant has no token. */
export async function setBackupTokenActiveFrom(
  db: Db,
  tenantId: number,
  at: Date,
): Promise<boolean> {
  const res = await db
    .update(backupTokens)
    .set({ activeFrom: at })
    .where(eq(backupTokens.tenantId, tenantId))
  return rowsChanged(res) > 0
}

export async function listApiKeys(db: Db, tenantId: number): Promise<ApiKey[]> {
  return await db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenantId))
    .orderBy(desc(apiKeys.id))
}

export async function countApiKeys(db: Db, tenantId: number): Promise<number> {
  return (await listApiKeys(db, tenantId)).length
}

export async function insertApiKey(
  db: Db,
  tenantId: number,
  fields: { name: string; keyHash: string; prefix: string },
): Promise<ApiKey> {
  return (
    await db
      .insert(apiKeys)
      .values({ tenantId, ...fields })
      .returning()
  )[0]
}

/** Deletes one of the tenant's keys; another tenant's key is a NotFoundError. */
export async function deleteApiKey(db: Db, tenantId: number, id: number): Promise<ApiKey> {
  const row = (
    await db
      .delete(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)))
      .returning()
  )[0]
  if (!row) throw new NotFoundError('That API key')
  return row
}

/**
 * The key with this hash and its tenant. This is the one lookup not scoped by tenant: the key
 * is what names the tenant.
 */
export async function findApiKeyByHash(
  db: Db,
  keyHash: string,
): Promise<{ key: ApiKey; tenant: Tenant } | undefined> {
  return (
    await db
      .select({ key: apiKeys, tenant: tenants })
      .from(apiKeys)
      .innerJoin(tenants, eq(apiKeys.tenantId, tenants.id))
      .where(eq(apiKeys.keyHash, keyHash))
  )[0]
}

export async function touchApiKey(
  db: Db,
  tenantId: number,
  id: number,
  at = new Date(),
): Promise<void> {
  await db
    .update(apiKeys)
    .set({ lastUsedAt: at })
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)))
}
