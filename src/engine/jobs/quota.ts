import type { Tenant } from '../../db/schema.ts'
import type { Db } from '../../db/client.ts'
import type { PolicyWithLinks } from '../../db/policies.ts'
import { getDestination } from '../../db/destinations.ts'
import { findRepository } from '../../db/repositories.ts'
import { logRun } from '../../db/runs.ts'
import { limitsOf, storedUsage } from '../../db/limits.ts'
import { formatBytes } from '../../units.ts'
import { openRepository } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import type { RunAs } from '../host/isolation.ts'
import { recordStats, retention } from './retention.ts'
import { plainReason } from '../restic/failure.ts'

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
  const over = await quotaProblem(deps.db, s.tenant)
  if (!over) return null
  await logRun(
    deps.db,
    s.runId,
    'warn',
    `${over} Applying the retention settings first to free space.`,
  )
  for (const link of s.policy.destinations) {
    if (!(await findRepository(deps.db, s.tenant.id, link.id))?.initializedAt) continue
    const dest = await getDestination(deps.db, s.tenant.id, link.id)
    const scope = { policy: s.policy, dest, runId: s.runId, signal: s.signal }
    const repo = await openRepository(deps, s.tenant, dest, s.work, s.who, s.signal, {
      create: false,
    })
    try {
      await retention(deps, scope, repo, { pruneNow: true })
      await recordStats(deps, scope, repo)
    } catch (err) {
      await logRun(
        deps.db,
        s.runId,
        'warn',
        `${dest.name}: retention could not free space: ${plainReason(err)}`,
      )
    } finally {
      await repo.close()
    }
  }
  return await quotaProblem(deps.db, s.tenant)
}

/**
 * Why a backup of this tenant must not start, or null: its repositories already hold more
 * bytes or snapshots than its limit. Says which limit and by how much.
 */
async function quotaProblem(db: Db, tenant: Tenant): Promise<string | null> {
  const limits = await limitsOf(db, tenant)
  const usage = await storedUsage(db, tenant.id)
  const ask =
    'Keep fewer backups (How long to keep backups, under Policies) and back up again, or ask your administrator to raise the limit.'
  if (limits.bytes !== null && usage.bytes > limits.bytes) {
    return `Backup refused: your backups use ${formatBytes(usage.bytes)}, ${formatBytes(usage.bytes - limits.bytes)} over the storage limit of ${formatBytes(limits.bytes)}. ${ask}`
  }
  if (limits.snapshots !== null && usage.snapshots > limits.snapshots) {
    const over = usage.snapshots - limits.snapshots
    return `Backup refused: you have ${usage.snapshots} backups stored, ${over} over the limit of ${limits.snapshots}. ${ask}`
  }
  return null
}
