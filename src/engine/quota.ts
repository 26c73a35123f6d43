import type { Tenant } from '../db/schema.ts'
import type { PolicyWithLinks } from '../db/policies.ts'
import { getDestination } from '../db/destinations.ts'
import { findRepository } from '../db/repositories.ts'
import { logRun } from '../db/runs.ts'
import { quotaProblem } from '../domain/limits.ts'
import { openRepository, type EngineDeps } from './context.ts'
import type { RunAs } from './isolation.ts'
import { recordStats, retention } from './retention.ts'
import { plainReason } from './failure.ts'

/**
 * Before a backup of a tenant over its storage or snapshot limit: applies the policy's current
 * retention on each of its destinations now (forget, then prune at once) and measures again, so
 * a tenant who lowered what Settings keeps gets back under the limit by themself. Returns why
 * the backup still must not start, or null when it may.
 */
export async function reclaimForQuota(
  deps: EngineDeps,
  s: {
    tenant: Tenant
    policy: PolicyWithLinks
    runId: number
    work: string
    who: RunAs
    signal: AbortSignal
  },
): Promise<string | null> {
  const over = quotaProblem(deps.db, s.tenant)
  if (!over) return null
  logRun(deps.db, s.runId, 'warn', `${over} Applying the retention settings first to free space.`)
  for (const link of s.policy.destinations) {
    if (!findRepository(deps.db, s.tenant.id, link.id)?.initializedAt) continue
    const dest = getDestination(deps.db, s.tenant.id, link.id)
    const scope = { policy: s.policy, dest, runId: s.runId, signal: s.signal }
    const repo = await openRepository(deps, s.tenant, dest, s.work, s.who, s.signal, {
      create: false,
    })
    try {
      await retention(deps, scope, repo, { pruneNow: true })
      await recordStats(deps, scope, repo)
    } catch (err) {
      logRun(
        deps.db,
        s.runId,
        'warn',
        `${dest.name}: retention could not free space: ${plainReason(err)}`,
      )
    } finally {
      await repo.close()
    }
  }
  return quotaProblem(deps.db, s.tenant)
}
