import { and, asc, count, eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { tenantDatabases, tenants, users, type Tenant } from './schema.ts'
import { NotFoundError } from '../errors.ts'
import { insertEmptyHealth, refreshTenantHealth } from './health.ts'

export type TenantFields = {
  name: string
  homeDir: string
  systemUser: string | null
  timezone: string
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
