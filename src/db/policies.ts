import { and, asc, eq, inArray } from 'drizzle-orm'
import type { Db } from './client.ts'
import {
  destinations,
  policies,
  policyDatabases,
  policyDestinations,
  tenantDatabases,
  type Policy,
} from './schema.ts'
import { HostOwnedError, NotFoundError } from '../errors.ts'
import { refreshTenantHealth } from './health.ts'

export type PolicyFields = Omit<
  Policy,
  'id' | 'tenantId' | 'createdAt' | 'updatedAt' | 'providerPolicyId'
>

export type PolicyWithLinks = Policy & {
  destinations: { id: number; name: string; type: string }[]
  databases: { id: number; engine: string; name: string }[]
}

export function listPolicies(db: Db, tenantId: number): PolicyWithLinks[] {
  const rows = db
    .select()
    .from(policies)
    .where(eq(policies.tenantId, tenantId))
    .orderBy(asc(policies.name))
    .all()
  return rows.map((p) => withLinks(db, p))
}

export function getPolicy(db: Db, tenantId: number, id: number): PolicyWithLinks {
  const row = db
    .select()
    .from(policies)
    .where(and(eq(policies.tenantId, tenantId), eq(policies.id, id)))
    .get()
  if (!row) throw new NotFoundError('That policy')
  return withLinks(db, row)
}

/** A policy the tenant may change: its own, not a copy of its host's (HostOwnedError). */
export function getOwnPolicy(db: Db, tenantId: number, id: number): PolicyWithLinks {
  const policy = getPolicy(db, tenantId, id)
  if (policy.providerPolicyId !== null) throw new HostOwnedError(`The policy “${policy.name}”`)
  return policy
}

export function findPolicyByName(db: Db, tenantId: number, name: string) {
  return db
    .select()
    .from(policies)
    .where(and(eq(policies.tenantId, tenantId), eq(policies.name, name)))
    .get()
}

function withLinks(db: Db, p: Policy): PolicyWithLinks {
  const dests = db
    .select({ id: destinations.id, name: destinations.name, type: destinations.type })
    .from(policyDestinations)
    .innerJoin(destinations, eq(policyDestinations.destinationId, destinations.id))
    .where(eq(policyDestinations.policyId, p.id))
    .orderBy(asc(destinations.name))
    .all()
  const dbs = db
    .select({ id: tenantDatabases.id, engine: tenantDatabases.engine, name: tenantDatabases.name })
    .from(policyDatabases)
    .innerJoin(tenantDatabases, eq(policyDatabases.databaseId, tenantDatabases.id))
    .where(eq(policyDatabases.policyId, p.id))
    .orderBy(asc(tenantDatabases.name))
    .all()
  return { ...p, destinations: dests, databases: dbs }
}

/**
 * Inserts or updates a policy with its destination and database links. The ids must already
 * have been checked to belong to `tenantId`.
 */
export function savePolicyRow(
  db: Db,
  tenantId: number,
  id: number | null,
  fields: PolicyFields,
  destinationIds: number[],
  databaseIds: number[],
): number {
  const saved = db.transaction((tx) => {
    let policyId = id
    if (policyId === null) {
      policyId = tx
        .insert(policies)
        .values({ tenantId, ...fields })
        .returning()
        .get().id
    } else {
      const res = tx
        .update(policies)
        .set({ ...fields, updatedAt: new Date() })
        .where(and(eq(policies.tenantId, tenantId), eq(policies.id, policyId)))
        .run()
      if (res.changes === 0) throw new NotFoundError('That policy')
      tx.delete(policyDestinations).where(eq(policyDestinations.policyId, policyId)).run()
      tx.delete(policyDatabases).where(eq(policyDatabases.policyId, policyId)).run()
    }
    const pid = policyId
    if (destinationIds.length) {
      tx.insert(policyDestinations)
        .values(destinationIds.map((destinationId) => ({ policyId: pid, destinationId })))
        .run()
    }
    if (databaseIds.length) {
      tx.insert(policyDatabases)
        .values(databaseIds.map((databaseId) => ({ policyId: pid, databaseId })))
        .run()
    }
    return pid
  })
  refreshTenantHealth(db, tenantId) // next run and missed count follow the enabled schedules
  return saved
}

export function deletePolicy(db: Db, tenantId: number, id: number): void {
  const policy = getPolicy(db, tenantId, id)
  if (policy.providerPolicyId !== null) throw new HostOwnedError(`The policy “${policy.name}”`)
  const res = db
    .delete(policies)
    .where(and(eq(policies.tenantId, tenantId), eq(policies.id, id)))
    .run()
  if (res.changes === 0) throw new NotFoundError('That policy')
  refreshTenantHealth(db, tenantId)
}

/** The subset of `ids` that are databases assigned to this tenant. */
export function ownedDatabaseIds(db: Db, tenantId: number, ids: number[]): number[] {
  if (!ids.length) return []
  return db
    .select({ id: tenantDatabases.id })
    .from(tenantDatabases)
    .where(and(eq(tenantDatabases.tenantId, tenantId), inArray(tenantDatabases.id, ids)))
    .all()
    .map((r) => r.id)
}
