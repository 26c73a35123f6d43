import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { runStages, runs, scheduleState, verifications, type Verification } from './schema.ts'

export type { Verification }
export type VerifyMode = Verification['mode']

/** Records one verification result (per destination). Call before `finishRun` of its run. */
export async function recordVerification(
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
): Promise<Verification> {
  return (
    await db
      .insert(verifications)
      .values({
        tenantId,
        ...fields,
        snapshotId: fields.snapshotId ?? null,
        durationMs: Math.round(fields.durationMs),
      })
      .returning()
  )[0]
}

/**
 * The newest verification of `mode` per (policy, destination) of the tenant, keyed
 * `<policyId>:<destinationId>`, for the Overview.
 */
export async function latestVerifications(
  db: Db,
  tenantId: number,
  mode: VerifyMode,
): Promise<Map<string, Verification>> {
  const newest = (
    await db
      .select({ id: sql<number>`max(${verifications.id})`.as('id') })
      .from(verifications)
      .where(and(eq(verifications.tenantId, tenantId), eq(verifications.mode, mode)))
      .groupBy(verifications.policyId, verifications.destinationId)
  ).map((r) => r.id)
  const out = new Map<string, Verification>()
  if (!newest.length) return out
  const rows = await db
    .select()
    .from(verifications)
    .where(and(eq(verifications.tenantId, tenantId), inArray(verifications.id, newest)))
  for (const v of rows) out.set(`${v.policyId}:${v.destinationId}`, v)
  return out
}

/** Verifications recorded by the given runs of the tenant (run page, history labels). */
export async function verificationsOfRuns(
  db: Db,
  tenantId: number,
  runIds: number[],
): Promise<Verification[]> {
  if (!runIds.length) return []
  return await db
    .select()
    .from(verifications)
    .where(and(eq(verifications.tenantId, tenantId), inArray(verifications.runId, runIds)))
    .orderBy(desc(verifications.id))
}

/** True when a backup run of the policy stored at least one snapshot (fully or partly). */
export async function policyHasSnapshot(db: Db, policyId: number): Promise<boolean> {
  const row = (
    await db
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
  )[0]
  return Boolean(row)
}

/** Notes that a check or test restore of the policy was queued, restarting its weekly/monthly clock. */
export async function markVerifyEnqueued(
  db: Db,
  policyId: number,
  mode: VerifyMode,
  at: Date,
): Promise<void> {
  const set = mode === 'check' ? { lastCheckAt: at } : { lastTestRestoreAt: at }
  await db
    .insert(scheduleState)
    .values({ policyId, ...set })
    .onConflictDoUpdate({ target: scheduleState.policyId, set })
}
