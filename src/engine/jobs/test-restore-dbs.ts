import type { Db } from '../../db/client.ts'
import type { Tenant } from '../../db/schema.ts'
import { listTenantDatabases } from '../../db/tenants.ts'
import { finishStage, startStage } from '../../db/runs.ts'
import type { EngineDeps } from '../deps.ts'
import type { ResticEnv } from '../restic/restic.ts'
import type { RunAs } from '../host/isolation.ts'
import type { ListedDump } from '../restic/snapshot-listing.ts'
import { loadIntoScratch } from './scratch-db.ts'

/** The stage being worked on, so a failure is recorded on the right one. */
export type StageCursor = { id: number; start(name: string): Promise<void> }

export function stageCursor(db: Db, runId: number, destinationId: number): StageCursor {
  const cursor: StageCursor = {
    id: 0,
    start: async (name) => {
      cursor.id = (await startStage(db, runId, name, destinationId)).id
    },
  }
  return cursor
}

/**
 * Loads each dump of the snapshot into its own scratch database (stage `load:<name>`) and
 * checks that every table the dump declares loaded. Dumps of databases no longer assigned to
 * the tenant are skipped: their connection is gone. Appends "<db>: N tables loaded" to `parts`
 * and returns the table count per database; throws on the first failure.
 */
export async function loadDumps(
  deps: EngineDeps,
  t: { tenant: Tenant; work: string; who: RunAs; signal: AbortSignal },
  cursor: StageCursor,
  o: {
    env: ResticEnv
    snapshot: string
    dumps: ListedDump[]
    parts: string[]
    progress: (text: string, part: number) => Promise<void>
  },
): Promise<Record<string, number>> {
  const { db } = deps
  const assigned = await listTenantDatabases(db, t.tenant.id)
  const tables: Record<string, number> = {}
  for (const dump of o.dumps) {
    await cursor.start(`load:${dump.name}`)
    await o.progress(`Loading ${dump.name} into a scratch database…`, 0.8)
    const row = assigned.find((d) => d.engine === dump.engine && d.name === dump.name)
    if (!row) {
      await finishStage(db, cursor.id, 'skipped', {
        message: `${dump.name} is no longer assigned to you, so it was not loaded.`,
      })
      o.parts.push(`${dump.name}: skipped (no longer assigned)`)
      continue
    }
    const r = await loadIntoScratch({
      secretKey: deps.config.secretKey,
      row,
      env: o.env,
      snapshot: o.snapshot,
      dumpPath: dump.path,
      work: t.work,
      who: t.who,
      signal: t.signal,
    })
    tables[dump.name] = r.tables
    if (r.tables < r.declared) {
      throw new Error(
        `${dump.name}: only ${r.tables} of the ${r.declared} tables in the dump loaded.`,
      )
    }
    const loaded = `${dump.name}: ${r.tables} table${r.tables === 1 ? '' : 's'} loaded`
    await finishStage(db, cursor.id, 'success', {
      message: `${loaded} into the scratch database ${r.scratch}, dropped again afterwards.`,
    })
    o.parts.push(loaded)
  }
  return tables
}
