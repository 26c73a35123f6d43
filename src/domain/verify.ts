import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import { activeJobs, enqueue, startQueuedNow } from '../db/jobs.ts'
import { getTenant } from '../db/tenants.ts'
import { assertOnDemandAllowed } from './limits.ts'
import { getPolicy } from '../db/policies.ts'
import { markVerifyEnqueued, type VerifyMode } from '../db/verifications.ts'
import { policyJobKey, type Job } from '../db/job-payloads.ts'

/**
 * Queues a data check or a test restore of one of the tenant's policies now. Shares the
 * scheduler's dedupe key, so a pending scheduled one is pulled forward instead of doubled, and
 * restarts the policy's weekly/monthly clock. A new one counts against the tenant's on-demand
 * runs per day like Back up now (LimitError past it); count and insert share one transaction.
 */
export async function requestVerify(
  db: Db,
  tenantId: number,
  policyId: number,
  mode: VerifyMode,
  trigger: 'manual' | 'cli' | 'api',
  extra: { subset?: string } = {},
): Promise<{ job: Job; created: boolean }> {
  const policy = await getPolicy(db, tenantId, policyId)
  const now = new Date()
  const dedupeKey = policyJobKey(policy.id, mode)
  return transaction(db, async () => {
    const pending = (await activeJobs(db, tenantId)).some((j) => j.dedupeKey === dedupeKey)
    if (!pending) await assertOnDemandAllowed(db, await getTenant(db, tenantId), now)
    const res = await enqueue(db, {
      kind: 'verify',
      tenantId,
      payload: {
        mode,
        policyId: policy.id,
        policyName: policy.name,
        trigger,
        ...(extra.subset ? { subset: extra.subset } : {}),
      },
      dedupeKey,
      maxAttempts: 1,
    })
    if (!res.created) await startQueuedNow(db, tenantId, res.job.id, now)
    await markVerifyEnqueued(db, policy.id, mode, now)
    return res
  })
}
