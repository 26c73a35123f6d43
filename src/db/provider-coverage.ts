import { count, isNotNull } from 'drizzle-orm'
import type { Db } from './client.ts'
import { policies } from './schema.ts'

/**
 * How many tenants each provider policy covers (has a copy with), keyed by provider policy id;
 * a policy that covers nobody is absent.
 */
export async function tenantsCovered(db: Db): Promise<Map<number, number>> {
  const rows = await db
    .select({ id: policies.providerPolicyId, n: count() })
    .from(policies)
    .where(isNotNull(policies.providerPolicyId))
    .groupBy(policies.providerPolicyId)
  return new Map(rows.map((r) => [r.id!, r.n]))
}
