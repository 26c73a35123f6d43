import { and, asc, eq, inArray } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction, rowsChanged } from './tx.ts'
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

export async function listPolicies(db: Db, tenantId: number): Promise<PolicyWithLinks[]> {
  const rows = await db
    .select()
    .from(policies)
    .where(eq(policies.tenantId, tenantId))
    .orderBy(asc(policies.name))
  return Promise.all(rows.map((p) => withLinks(db, p)))
}

export async function getPolicy(db: Db, tenantId: number, id: number): Promise<PolicyWithLinks> {
  const row = (
    await db
      .select()
      .from(policies)
      .where(and(eq(policies.tenantId, tenantId), eq(policies.id, id)))
  )[0]
  if (!row) throw new NotFoundError('That policy')
  return await withLinks(db, row)
}

/** A policy the tenant may change: its own, not a copy of its host's (HostOwnedError). */
export async function getOwnPolicy(db: Db, tenantId: number, id: number): Promise<PolicyWithLinks> {
  const policy = await getPolicy(db, tenantId, id)
  if (policy.providerPolicyId !== null) throw new HostOwnedError(`The policy “${policy.name}”`)
  return policy
}

export async function findPolicyByName(db: Db, tenantId: number, name: string) {
  return (
    await db
      .select()
      .from(policies)
      .where(and(eq(policies.tenantId, tenantId), eq(policies.name, name)))
  )[0]
}

async function withLinks(db: Db, p: Policy): Promise<PolicyWithLinks> {
  const dests = await db
    .select({ id: destinations.id, name: destinations.name, type: destinations.type })
    .from(policyDestinations)
    .innerJoin(destinations, eq(policyDestinations.destinationId, destinations.id))
    .where(eq(policyDestinations.policyId, p.id))
    .orderBy(asc(destinations.name))
  const dbs = await db
    .select({ id: tenantDatabases.id, engine: tenantDatabases.engine, name: tenantDatabases.name })
    .from(policyDatabases)
    .innerJoin(tenantDatabases, eq(policyDatabases.databaseId, tenantDatabases.id))
    .where(eq(policyDatabases.policyId, p.id))
    .orderBy(asc(tenantDatabases.name))
  return { ...p, destinations: dests, databases: dbs }
}

/**
 * Inserts or updates a policy with its destination and database links. The ids must already
 * have been checked to belong to `tenantId`.
 */
export async function savePolicyRow(
  db: Db,
  tenantId: number,
  id: number | null,
  fields: PolicyFields,
  destinationIds: number[],
  databaseIds: number[],
): Promise<number> {
  const saved = await transaction(db, async (tx) => {
    let policyId = id
    if (policyId === null) {
      policyId = (
        await tx
          .insert(policies)
          .values({ tenantId, ...fields })
          .returning()
      )[0].id
    } else {
      const res = await tx
        .update(policies)
        .set({ ...fields, updatedAt: new Date() })
        .where(and(eq(policies.tenantId, tenantId), eq(policies.id, policyId)))
      if (rowsChanged(res) === 0) throw new NotFoundError('That policy')
      await tx.delete(policyDestinations).where(eq(policyDestinations.policyId, policyId))
      await tx.delete(policyDatabases).where(eq(policyDatabases.policyId, policyId))
    }
    const pid = policyId
    if (destinationIds.length) {
      await tx
        .insert(policyDestinations)
        .values(destinationIds.map((destinationId) => ({ policyId: pid, destinationId })))
    }
    if (databaseIds.length) {
      await tx
        .insert(policyDatabases)
        .values(databaseIds.map((databaseId) => ({ policyId: pid, databaseId })))
    }
    return pid
  })
  await refreshTenantHealth(db, tenantId) // next run and missed count follow the enabled schedules
  return saved
}

export async function deletePolicy(db: Db, tenantId: number, id: number): Promise<void> {
  const policy = await getPolicy(db, tenantId, id)
  if (policy.providerPolicyId !== null) throw new HostOwnedError(`The policy “${policy.name}”`)
  const res = await db
    .delete(policies)
    .where(and(eq(policies.tenantId, tenantId), eq(policies.id, id)))
  if (rowsChanged(res) === 0) throw new NotFoundError('That policy')
  await refreshTenantHealth(db, tenantId)
}

/** The subset of `ids` that are databases assigned to this tenant. */
export async function ownedDatabaseIds(db: Db, tenantId: number, ids: number[]): Promise<number[]> {
  if (!ids.length) return []
  return (
    await db
      .select({ id: tenantDatabases.id })
      .from(tenantDatabases)
      .where(and(eq(tenantDatabases.tenantId, tenantId), inArray(tenantDatabases.id, ids)))
  ).map((r) => r.id)
}
