import { and, desc, eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { apiKeys, backupTokens, tenants, type ApiKey, type Tenant } from './schema.ts'
import { NotFoundError } from '../errors.ts'

export type BackupTokenRow = typeof backupTokens.$inferSelect

/** The tenant's backup token row (hash and activation time), if one was ever created. */
export function getBackupToken(db: Db, tenantId: number): BackupTokenRow | undefined {
  return db.select().from(backupTokens).where(eq(backupTokens.tenantId, tenantId)).get()
}

/**
 * Stores a new token hash for the tenant, replacing the previous one (one token per tenant, so
 * a reset invalidates the old token at once). `reset` tells whether one existed before.
 */
export function putBackupToken(
  db: Db,
  tenantId: number,
  fields: { userId: number | null; tokenHash: string; activeFrom: Date },
): { reset: boolean } {
  return db.transaction((tx) => {
    const reset = Boolean(
      tx
        .select({ id: backupTokens.tenantId })
        .from(backupTokens)
        .where(eq(backupTokens.tenantId, tenantId))
        .get(),
    )
    const row = { tenantId, ...fields, createdAt: new Date() }
    tx.insert(backupTokens)
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
      .run()
    return { reset }
  })
}

/** Makes the tenant's token valid from `at`; false when the tenant has no token. */
export function setBackupTokenActiveFrom(db: Db, tenantId: number, at: Date): boolean {
  const res = db
    .update(backupTokens)
    .set({ activeFrom: at })
    .where(eq(backupTokens.tenantId, tenantId))
    .run()
  return res.changes > 0
}

export function listApiKeys(db: Db, tenantId: number): ApiKey[] {
  return db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenantId))
    .orderBy(desc(apiKeys.id))
    .all()
}

export function countApiKeys(db: Db, tenantId: number): number {
  return listApiKeys(db, tenantId).length
}

export function insertApiKey(
  db: Db,
  tenantId: number,
  fields: { name: string; keyHash: string; prefix: string },
): ApiKey {
  return db
    .insert(apiKeys)
    .values({ tenantId, ...fields })
    .returning()
    .get()
}

/** Deletes one of the tenant's keys; another tenant's key is a NotFoundError. */
export function deleteApiKey(db: Db, tenantId: number, id: number): ApiKey {
  const row = db
    .delete(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)))
    .returning()
    .get()
  if (!row) throw new NotFoundError('That API key')
  return row
}

/**
 * The key with this hash and its tenant. This is the one lookup not scoped by tenant: the key
 * is what names the tenant.
 */
export function findApiKeyByHash(
  db: Db,
  keyHash: string,
): { key: ApiKey; tenant: Tenant } | undefined {
  return db
    .select({ key: apiKeys, tenant: tenants })
    .from(apiKeys)
    .innerJoin(tenants, eq(apiKeys.tenantId, tenants.id))
    .where(eq(apiKeys.keyHash, keyHash))
    .get()
}

export function touchApiKey(db: Db, tenantId: number, id: number, at = new Date()): void {
  db.update(apiKeys)
    .set({ lastUsedAt: at })
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)))
    .run()
}
