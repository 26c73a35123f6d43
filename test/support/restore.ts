import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import { requestRestore } from '../../src/domain/jobs.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import type { Destination, Tenant } from '../../src/db/schema.ts'
import type { Deps } from '../../src/web/context.ts'
import { waitJob } from './tenants.ts'

/**
 * Restores the newest snapshot on `dest` into `<home>/restored` through the runner and asserts
 * each of `files` came back byte for byte. `files` maps a path under the home to its bytes.
 */
export async function restoreAndCompare(
  deps: Deps,
  runner: { wake(): void },
  tenant: Tenant,
  dest: Destination,
  files: Record<string, string | Buffer>,
): Promise<void> {
  const [snapshot] = await listSnapshots(deps, tenant, dest)
  expect(snapshot, 'a snapshot to restore').toBeTruthy()
  const job = await requestRestore(deps.db, tenant.id, {
    destinationId: dest.id,
    snapshot: snapshot!.id,
    paths: [],
    mode: 'copy',
    newName: 'restored',
  })
  runner.wake()
  const done = await waitJob(deps, tenant.id, job.id, 120_000)
  expect(done.status, done.lastError ?? '').toBe('done')
  for (const [rel, data] of Object.entries(files)) {
    // equals(), not toEqual(): a deep compare of megabytes takes vitest half a minute.
    const same = readFileSync(join(tenant.homeDir, 'restored', rel)).equals(Buffer.from(data))
    expect(same, rel).toBe(true)
  }
}
