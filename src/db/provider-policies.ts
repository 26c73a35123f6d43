import { asc, eq, inArray } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction, rowsChanged } from './tx.ts'
import {
  providerDestinations,
  providerPolicies,
  providerPolicyDestinations,
  type ProviderPolicy,
} from './schema.ts'
import { NotFoundError } from '../errors.ts'

export type ProviderPolicyFields = Omit<ProviderPolicy, 'id' | 'createdAt' | 'updatedAt'>

export type ProviderPolicyWithLinks = ProviderPolicy & {
  destinations: { id: number; name: string; type: string }[]
}

export async function listProviderPolicies(db: Db): Promise<ProviderPolicyWithLinks[]> {
  const rows = await db.select().from(providerPolicies).orderBy(asc(providerPolicies.name))
  const links = await linksOf(
    db,
    rows.map((r) => r.id),
  )
  return rows.map((p) => ({ ...p, destinations: links.get(p.id) ?? [] }))
}

export async function getProviderPolicy(db: Db, id: number): Promise<ProviderPolicyWithLinks> {
  const row = (await db.select().from(providerPolicies).where(eq(providerPolicies.id, id)))[0]
  if (!row) throw new NotFoundError('That provider policy')
  return { ...row, destinations: (await linksOf(db, [id])).get(id) ?? [] }
}

export async function findProviderPolicyByName(db: Db, name: string) {
  return (await db.select().from(providerPolicies).where(eq(providerPolicies.name, name)))[0]
}

async function linksOf(db: Db, ids: number[]) {
  const out = new Map<number, { id: number; name: string; type: string }[]>()
  if (!ids.length) return out
  const rows = await db
    .select({
      policyId: providerPolicyDestinations.providerPolicyId,
      id: providerDestinations.id,
      name: providerDestinations.name,
      type: providerDestinations.type,
    })
    .from(providerPolicyDestinations)
    .innerJoin(
      providerDestinations,
      eq(providerPolicyDestinations.providerDestinationId, providerDestinations.id),
    )
    .where(inArray(providerPolicyDestinations.providerPolicyId, ids))
    .orderBy(asc(providerDestinations.name))
  for (const { policyId, ...d } of rows) out.set(policyId, [...(out.get(policyId) ?? []), d])
  return out
}

/** Inserts (`id` null) or updates a provider policy with its destinations; returns its id. */
export async function saveProviderPolicyRow(
  db: Db,
  id: number | null,
  fields: ProviderPolicyFields,
  destinationIds: number[],
): Promise<number> {
  return await transaction(db, async (tx) => {
    let policyId = id
    if (policyId === null) {
      policyId = (await tx.insert(providerPolicies).values(fields).returning())[0].id
    } else {
      const res = await tx
        .update(providerPolicies)
        .set({ ...fields, updatedAt: new Date() })
        .where(eq(providerPolicies.id, policyId))
      if (rowsChanged(res) === 0) throw new NotFoundError('That provider policy')
      await tx
        .delete(providerPolicyDestinations)
        .where(eq(providerPolicyDestinations.providerPolicyId, policyId))
    }
    const pid = policyId
    await tx
      .insert(providerPolicyDestinations)
      .values(destinationIds.map((d) => ({ providerPolicyId: pid, providerDestinationId: d })))
    return pid
  })
}

/** Removes a provider policy; every tenant's copy goes with it (their backups stay restorable). */
export async function deleteProviderPolicy(db: Db, id: number): Promise<void> {
  const res = await db.delete(providerPolicies).where(eq(providerPolicies.id, id))
  if (rowsChanged(res) === 0) throw new NotFoundError('That provider policy')
}
