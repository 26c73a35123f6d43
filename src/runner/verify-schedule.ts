import { createHash } from 'node:crypto'
import type { Db } from '../db/client.ts'
import { enqueue } from '../db/jobs.ts'
import type { Policy } from '../db/schema.ts'
import { markVerifyEnqueued, policyHasSnapshot, type VerifyMode } from '../db/verifications.ts'
import { policyJobKey } from '../db/job-payloads.ts'

const DAY = 86_400_000
/** How often each policy gets a data check and a test restore. */
export const VERIFY_EVERY: Record<VerifyMode, number> = { check: 7 * DAY, restore: 30 * DAY }
/** Due verifications start somewhere in this window, so a fleet does not start them at once. */
const SPREAD_MS = 6 * 3_600_000

/** A deterministic offset in [0, 6 h) per policy and mode. */
export function verifySpreadMs(policyId: number, mode: VerifyMode): number {
  const hash = createHash('sha256').update(`verify:${mode}:${policyId}`).digest().readUInt32BE(0)
  return Math.floor((hash / 2 ** 32) * SPREAD_MS)
}

/**
 * Queues the policy's weekly data check and monthly test restore when their last one was queued
 * longer ago than VERIFY_EVERY (or never), once the policy has stored a snapshot. Each job starts
 * at now + verifySpreadMs, dedupes on `verify:<mode>:policy:<id>`, and moves the policy's
 * lastCheckAt / lastTestRestoreAt to now. Disabled policies and tenants get none. Returns the
 * number of jobs created. Runs inside the scheduler's transaction.
 */
export async function enqueueDueVerifications(
  db: Db,
  policy: Policy,
  state: { lastCheckAt: Date | null; lastTestRestoreAt: Date | null } | null,
  tenantDisabled: boolean,
  now: Date,
): Promise<number> {
  if (!policy.enabled || tenantDisabled) return 0
  const last: Record<VerifyMode, Date | null> = {
    check: state?.lastCheckAt ?? null,
    restore: state?.lastTestRestoreAt ?? null,
  }
  const due = (['check', 'restore'] as const).filter(
    (m) => !last[m] || now.getTime() - last[m]!.getTime() >= VERIFY_EVERY[m],
  )
  // The snapshot lookup is one indexed query, asked only when something is due.
  if (!due.length || !(await policyHasSnapshot(db, policy.id))) return 0
  let created = 0
  for (const mode of due) {
    const res = await enqueue(db, {
      kind: 'verify',
      tenantId: policy.tenantId,
      payload: { mode, policyId: policy.id, policyName: policy.name, trigger: 'schedule' },
      runAt: new Date(now.getTime() + verifySpreadMs(policy.id, mode)),
      dedupeKey: policyJobKey(policy.id, mode),
      maxAttempts: 1,
    })
    if (res.created) created++
    await markVerifyEnqueued(db, policy.id, mode, now)
  }
  return created
}
