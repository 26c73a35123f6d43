import { asc, eq, inArray } from 'drizzle-orm'
import type { Db } from './client.ts'
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

export function listProviderPolicies(db: Db): ProviderPolicyWithLinks[] {
  const rows = db.select().from(providerPolicies).orderBy(asc(providerPolicies.name)).all()
  const links = linksOf(
    db,
    rows.map((r) => r.id),
  )
  return rows.map((p) => ({ ...p, destinations: links.get(p.id) ?? [] }))
}

export function getProviderPolicy(db: Db, id: number): ProviderPolicyWithLinks {
  const row = db.select().from(providerPolicies).where(eq(providerPolicies.id, id)).get()
  if (!row) throw new NotFoundError('That provider policy')
  return { ...row, destinations: linksOf(db, [id]).get(id) ?? [] }
}

export function findProviderPolicyByName(db: Db, name: string) {
  return db.select().from(providerPolicies).where(eq(providerPolicies.name, name)).get()
}

function linksOf(db: Db, ids: number[]) {
  const out = new Map<number, { id: number; name: string; type: string }[]>()
  if (!ids.length) return out
  const rows = db
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
    .all()
  for (const { policyId, ...d } of rows) out.set(policyId, [...(out.get(policyId) ?? []), d])
  return out
}

/** Inserts (`id` null) or updates a provider policy with its destinations; returns its id. */
export function saveProviderPolicyRow(
  db: Db,
  id: number | null,
  fields: ProviderPolicyFields,
  destinationIds: number[],
): number {
  return db.transaction((tx) => {
    let policyId = id
    if (policyId === null) {
      policyId = tx.insert(providerPolicies).values(fields).returning().get().id
    } else {
      const res = tx
        .update(providerPolicies)
        .set({ ...fields, updatedAt: new Date() })
        .where(eq(providerPolicies.id, policyId))
        .run()
      if (res.changes === 0) throw new NotFoundError('That provider policy')
      tx.delete(providerPolicyDestinations)
        .where(eq(providerPolicyDestinations.providerPolicyId, policyId))
        .run()
    }
    const pid = policyId
    tx.insert(providerPolicyDestinations)
      .values(destinationIds.map((d) => ({ providerPolicyId: pid, providerDestinationId: d })))
      .run()
    return pid
  })
}

/** Removes a provider policy; every tenant's copy goes with it (their backups stay restorable). */
export function deleteProviderPolicy(db: Db, id: number): void {
  const res = db.delete(providerPolicies).where(eq(providerPolicies.id, id)).run()
  if (res.changes === 0) throw new NotFoundError('That provider policy')
}
