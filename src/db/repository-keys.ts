import { and, eq, isNotNull } from 'drizzle-orm'
import type { Db } from './client.ts'
import { runStages, runs } from './schema.ts'

/** The stage of a password change that records which restic keys it replaced and added. */
export const ADD_KEY_STAGE = 'add-key'

/** What the add-key stage of a password change records (restic key ids, never passwords). */
export type KeyChange = { replacedKey: string; addedKey: string }

/**
 * Every restic key id an earlier password change of this repository replaced or added. The
 * panel opens a repository with one key only (the one its stored password opens), so any of
 * these still present is a leftover: an old key whose removal failed or was cut off, or a new
 * key whose password was never stored. A password change removes them with the old key.
 */
export async function keysOfEarlierChanges(
  db: Db,
  tenantId: number,
  destinationId: number,
): Promise<string[]> {
  const rows = await db
    .select({ details: runStages.details })
    .from(runStages)
    .innerJoin(runs, eq(runStages.runId, runs.id))
    .where(
      and(
        eq(runs.tenantId, tenantId),
        eq(runs.kind, 'rekey'),
        eq(runStages.destinationId, destinationId),
        eq(runStages.name, ADD_KEY_STAGE),
        isNotNull(runStages.details),
      ),
    )
  const ids = new Set<string>()
  for (const { details } of rows) {
    for (const id of [details?.replacedKey, details?.addedKey])
      if (typeof id === 'string' && /^[0-9a-f]{8,64}$/.test(id)) ids.add(id)
  }
  return [...ids]
}
