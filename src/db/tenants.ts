import { and, asc, count, eq } from 'drizzle-orm'
import type { Db } from './client.ts'
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
}

/** Admin-only listing, with each tenant's sign-in name. */
export function listTenants(db: Db): Tenant[] {
  return db.select().from(tenants).orderBy(asc(tenants.name)).all()
}

export function getTenant(db: Db, id: number): Tenant {
  const row = db.select().from(tenants).where(eq(tenants.id, id)).get()
  if (!row) throw new NotFoundError('That tenant')
  return row
}

export function findTenantByName(db: Db, name: string): Tenant | undefined {
  return db.select().from(tenants).where(eq(tenants.name, name)).get()
}

/** Creates the tenant and its sign-in account (same name) in one transaction. */
export function insertTenant(db: Db, fields: TenantFields, passwordHash: string): Tenant {
  return db.transaction((tx) => {
    const tenant = tx.insert(tenants).values(fields).returning().get()
    tx.insert(users)
      .values({ username: fields.name, passwordHash, role: 'tenant', tenantId: tenant.id })
      .run()
    insertEmptyHealth(tx, tenant.id)
    return tenant
  })
}

export function updateTenant(
  db: Db,
  id: number,
  fields: Omit<TenantFields, 'name'> & { disabled?: boolean },
): void {
  db.update(tenants).set(fields).where(eq(tenants.id, id)).run()
  if (fields.disabled !== undefined) refreshTenantHealth(db, id) // a disabled tenant has no next run
}

export function tenantUser(db: Db, tenantId: number) {
  return db.select().from(users).where(eq(users.tenantId, tenantId)).get()
}

export function listTenantDatabases(db: Db, tenantId: number) {
  return db
    .select()
    .from(tenantDatabases)
    .where(eq(tenantDatabases.tenantId, tenantId))
    .orderBy(asc(tenantDatabases.engine), asc(tenantDatabases.name))
    .all()
}

export function insertTenantDatabase(
  db: Db,
  tenantId: number,
  engine: 'mariadb' | 'postgresql',
  name: string,
) {
  return db.insert(tenantDatabases).values({ tenantId, engine, name }).returning().get()
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

export function deleteTenantDatabase(db: Db, tenantId: number, id: number): void {
  const res = db
    .delete(tenantDatabases)
    .where(and(eq(tenantDatabases.tenantId, tenantId), eq(tenantDatabases.id, id)))
    .run()
  if (res.changes === 0) throw new NotFoundError('That database')
}

/** Number of assigned databases per tenant id. */
export function countDatabasesByTenant(db: Db): Map<number, number> {
  const rows = db
    .select({ tenantId: tenantDatabases.tenantId, n: count() })
    .from(tenantDatabases)
    .groupBy(tenantDatabases.tenantId)
    .all()
  return new Map(rows.map((r) => [r.tenantId, r.n]))
}
