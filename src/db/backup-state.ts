import { and, desc, eq, inArray } from 'drizzle-orm'
import type { Db } from './client.ts'
import { runStages, runs } from './schema.ts'

/** One finished backup of a policy to one destination. */
export type BackupResult = {
  status: 'success' | 'partial' | 'failed'
  runId: number
  runNumber: number
  /** When it ended. */
  at: Date
  /** Why it failed or is incomplete, in full; null on success. */
  reason: string | null
  /** Data the snapshot added, and how long that destination took; null when none was made. */
  bytes: number | null
  tookMs: number | null
}

/** How a policy's backups to one destination are doing, from its recent finished runs. */
export type BackupState = {
  /** The newest finished result. */
  last: BackupResult | null
  /** The newest result that stored a backup (succeeded or incomplete). */
  lastGood: BackupResult | null
  /** When the failures in a row up to now began (the oldest of them), and how many there are. */
  failingSince: Date | null
  failures: number
}

/** Finished backup runs read per tenant: plenty for a streak, cheap at 10,000 runs. */
const WINDOW = 200

/**
 * Per `<policyId>:<destinationId>` of `policies`, the state of its backups. A destination's
 * result in a run is its snapshot stage; a run that failed before it reached the destination (a
 * full quota, a missing home folder) counts as a failure there too, with the run's reason.
 * Cancelled runs count as neither. Reads the tenant's newest WINDOW finished backup runs.
 */
export async function backupStates(
  db: Db,
  tenantId: number,
  policies: { id: number; destinations: { id: number }[] }[],
): Promise<Map<string, BackupState>> {
  const recent = await db
    .select()
    .from(runs)
    .where(
      and(
        eq(runs.tenantId, tenantId),
        eq(runs.kind, 'backup'),
        inArray(runs.status, ['success', 'partial', 'failed', 'interrupted']),
      ),
    )
    .orderBy(desc(runs.id))
    .limit(WINDOW)
  const stages = recent.length
    ? await db
        .select()
        .from(runStages)
        .where(
          and(
            inArray(
              runStages.runId,
              recent.map((r) => r.id),
            ),
            eq(runStages.name, 'snapshot'),
          ),
        )
    : []
  const stageOf = new Map(stages.map((s) => [`${s.runId}:${s.destinationId}`, s]))
  const out = new Map<string, BackupState>()
  for (const p of policies) {
    const mine = recent.filter((r) => r.policyId === p.id)
    for (const d of p.destinations) {
      const results: BackupResult[] = []
      for (const r of mine) {
        const s = stageOf.get(`${r.id}:${d.id}`)
        const base = { runId: r.id, runNumber: r.number }
        if (s && (s.status === 'success' || s.status === 'partial' || s.status === 'failed')) {
          results.push({
            ...base,
            status: s.status,
            at: s.finishedAt ?? r.finishedAt ?? r.createdAt,
            reason: s.status === 'success' ? null : (s.message ?? r.error),
            bytes: s.status === 'failed' ? null : s.bytes,
            tookMs:
              s.startedAt && s.finishedAt ? s.finishedAt.getTime() - s.startedAt.getTime() : null,
          })
        } else if (!s && (r.status === 'failed' || r.status === 'interrupted')) {
          results.push({
            ...base,
            status: 'failed',
            at: r.finishedAt ?? r.createdAt,
            reason: r.error,
            bytes: null,
            tookMs: null,
          })
        }
      }
      let failures = 0
      while (results[failures]?.status === 'failed') failures++
      out.set(`${p.id}:${d.id}`, {
        last: results[0] ?? null,
        lastGood: results.find((r) => r.status !== 'failed') ?? null,
        failingSince: failures ? results[failures - 1]!.at : null,
        failures,
      })
    }
  }
  return out
}
