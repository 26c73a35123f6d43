import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { runStages, runs, scheduleState, verifications, type Verification } from './schema.ts'

export type { Verification }
export type VerifyMode = Verification['mode']

/** Records one verification result (per destination). Call before `finishRun` of its run. */
export function recordVerification(
  db: Db,
  tenantId: number,
  fields: {
    policyId: number | null
    destinationId: number | null
    runId: number | null
    mode: VerifyMode
    snapshotId?: string | null
    ok: boolean
    durationMs: number
    message: string
    details?: Record<string, unknown>
  },
): Verification {
  return db
    .insert(verifications)
    .values({
      tenantId,
      ...fields,
      snapshotId: fields.snapshotId ?? null,
      durationMs: Math.round(fields.durationMs),
    })
    .returning()
    .get()
}

/**
 * The newest verification of `mode` per (policy, destination) of the tenant, keyed
 * `<policyId>:<destinationId>`, for the Overview.
 */
export function latestVerifications(
  db: Db,
  tenantId: number,
  mode: VerifyMode,
): Map<string, Verification> {
  const newest = db
    .select({ id: sql<number>`max(${verifications.id})`.as('id') })
    .from(verifications)
    .where(and(eq(verifications.tenantId, tenantId), eq(verifications.mode, mode)))
    .groupBy(verifications.policyId, verifications.destinationId)
    .all()
    .map((r) => r.id)
  const out = new Map<string, Verification>()
  if (!newest.length) return out
  const rows = db
    .select()
    .from(verifications)
    .where(and(eq(verifications.tenantId, tenantId), inArray(verifications.id, newest)))
    .all()
  for (const v of rows) out.set(`${v.policyId}:${v.destinationId}`, v)
  return out
}

/** Verifications recorded by the given runs of the tenant (run page, history labels). */
export function verificationsOfRuns(db: Db, tenantId: number, runIds: number[]): Verification[] {
  if (!runIds.length) return []
  return db
    .select()
    .from(verifications)
    .where(and(eq(verifications.tenantId, tenantId), inArray(verifications.runId, runIds)))
    .orderBy(desc(verifications.id))
    .all()
}

/** True when a backup run of the policy stored at least one snapshot (fully or partly). */
export function policyHasSnapshot(db: Db, policyId: number): boolean {
  const row = db
    .select({ one: sql<number>`1` })
    .from(runs)
    .innerJoin(runStages, eq(runStages.runId, runs.id))
    .where(
      and(
        eq(runs.policyId, policyId),
        eq(runs.kind, 'backup'),
        eq(runStages.name, 'snapshot'),
        inArray(runStages.status, ['success', 'partial']),
      ),
    )
    .limit(1)
    .get()
  return Boolean(row)
}

/** Notes that a check or test restore of the policy was queued, restarting its weekly/monthly clock. */
export function markVerifyEnqueued(db: Db, policyId: number, mode: VerifyMode, at: Date): void {
  const set = mode === 'check' ? { lastCheckAt: at } : { lastTestRestoreAt: at }
  db.insert(scheduleState)
    .values({ policyId, ...set })
    .onConflictDoUpdate({ target: scheduleState.policyId, set })
    .run()
}
