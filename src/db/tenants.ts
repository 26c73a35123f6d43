import { and, asc, count, eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction, rowsChanged } from './tx.ts'
import { tenantDatabases, tenants, users, type Tenant, type TenantDatabase } from './schema.ts'
import { NotFoundError } from '../errors.ts'
import { open, seal } from '../secret-box.ts'
import { insertEmptyHealth, refreshTenantHealth } from './health.ts'

export type TenantFields = {
  name: string
  homeDir: string
  systemUser: string | null
  timezone: string
  plan?: string | null
  node?: string | null
}

/** Admin-only listing, with each tenant's sign-in name. */
export async function listTenants(db: Db): Promise<Tenant[]> {
  return await db.select().from(tenants).orderBy(asc(tenants.name))
}

export async function getTenant(db: Db, id: number): Promise<Tenant> {
  const row = (await db.select().from(tenants).where(eq(tenants.id, id)))[0]
  if (!row) throw new NotFoundError('That tenant')
  return row
}

export async function findTenantByName(db: Db, name: string): Promise<Tenant | undefined> {
  return (await db.select().from(tenants).where(eq(tenants.name, name)))[0]
}

/** Creates the tenant and its sign-in account (same name) in one transaction. */
export async function insertTenant(
  db: Db,
  fields: TenantFields,
  passwordHash: string,
): Promise<Tenant> {
  return await transaction(db, async (tx) => {
    const tenant = (await tx.insert(tenants).values(fields).returning())[0]
    await tx
      .insert(users)
      .values({ username: fields.name, passwordHash, role: 'tenant', tenantId: tenant.id })
    await insertEmptyHealth(tx, tenant.id)
    return tenant
  })
}

export async function updateTenant(
  db: Db,
  id: number,
  fields: Omit<TenantFields, 'name'> & { disabled?: boolean },
): Promise<void> {
  await db.update(tenants).set(fields).where(eq(tenants.id, id))
  if (fields.disabled !== undefined) await refreshTenantHealth(db, id) // a disabled tenant has no next run
}

export async function tenantUser(db: Db, tenantId: number) {
  return (await db.select().from(users).where(eq(users.tenantId, tenantId)))[0]
}

export async function listTenantDatabases(db: Db, tenantId: number) {
  return await db
    .select()
    .from(tenantDatabases)
    .where(eq(tenantDatabases.tenantId, tenantId))
    .orderBy(asc(tenantDatabases.engine), asc(tenantDatabases.name))
}

export async function insertTenantDatabase(
  db: Db,
  tenantId: number,
  engine: 'mariadb' | 'postgresql',
  name: string,
) {
  return (await db.insert(tenantDatabases).values({ tenantId, engine, name }).returning())[0]
}

/** A tenant database and how to reach it; null host means the local default socket. */
export type DbConn = {
  engine: 'mariadb' | 'postgresql'
  name: string
  host: string | null
  port: number | null
  username: string | null
  password: string | null
}

/** Associated data for a tenant's sealed database passwords. */
const passwordContext = (tenantId: number) => `database-password:tenant:${tenantId}`

export function sealDbPassword(key: Buffer, tenantId: number, password: string): string {
  return seal(key, password, passwordContext(tenantId))
}

/** Connection details for one of the tenant's databases (or, by `name`, another on its server). */
export function dbConnOf(key: Buffer, row: TenantDatabase, name = row.name): DbConn {
  return {
    engine: row.engine,
    name,
    host: row.host,
    port: row.port,
    username: row.username,
    password: row.passwordSealed
      ? open(key, row.passwordSealed, passwordContext(row.tenantId))
      : null,
  }
}

export async function deleteTenantDatabase(db: Db, tenantId: number, id: number): Promise<void> {
  const res = await db
    .delete(tenantDatabases)
    .where(and(eq(tenantDatabases.tenantId, tenantId), eq(tenantDatabases.id, id)))
  if (rowsChanged(res) === 0) throw new NotFoundError('That database')
}

/** Number of assigned databases per tenant id. */
export async function countDatabasesByTenant(db: Db): Promise<Map<number, number>> {
  const rows = await db
    .select({ tenantId: tenantDatabases.tenantId, n: count() })
    .from(tenantDatabases)
    .groupBy(tenantDatabases.tenantId)
  return new Map(rows.map((r) => [r.tenantId, r.n]))
}

/** Every node tenants live on (null: the panel's own server), with how many tenants each. */
export async function tenantNodes(db: Db): Promise<{ node: string | null; tenants: number }[]> {
  return db
    .select({ node: tenants.node, tenants: count() })
    .from(tenants)
    .groupBy(tenants.node)
    .orderBy(asc(tenants.node))
}
