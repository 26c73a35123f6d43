import { existsSync, renameSync, rmSync } from 'node:fs'
import { eq, and } from 'drizzle-orm'
import { join } from 'node:path'
import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import type { Config } from '../config.ts'
import { localRootOf } from '../db/settings.ts'
import {
  destinations,
  jobs,
  policies,
  tenants,
  type Destination,
  type Tenant,
} from '../db/schema.ts'
import { ConflictError } from '../errors.ts'

/**
 * Removes a tenant from the panel: its account, sessions, policies, destinations, queue and
 * history, in one immediate transaction (no runner can claim its job meanwhile). Refused while
 * one of its jobs is running. Returns the destinations whose stored backups were kept.
 */
export async function removeTenant(db: Db, tenant: Tenant): Promise<Destination[]> {
  return transaction(db, async () => {
    const [running] = await db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.tenantId, tenant.id), eq(jobs.status, 'running')))
    if (running) {
      throw new ConflictError(
        `“${tenant.name}” has a job running (#${running.id}); wait for it to end or pause the runner first.`,
      )
    }
    const kept = await db.select().from(destinations).where(eq(destinations.tenantId, tenant.id))
    // Policies first: a destination in use by a policy is protected from deletion on purpose.
    await db.delete(policies).where(eq(policies.tenantId, tenant.id))
    await db.delete(tenants).where(eq(tenants.id, tenant.id))
    return kept
  })
}

/**
 * After removeTenant: the tenant's work dir (restic cache, dumps) is deleted, and its Local
 * backups folder is renamed to `.removed-<name>-<time>` under the local root, so a later tenant
 * of the same name starts empty while the old backups stay restorable with the recovery kit.
 * Never touches the home or the system user. Returns where the Local backups now are, if any.
 */
export async function retireTenantFiles(
  db: Db,
  config: Pick<Config, 'localRoot' | 'workDir'>,
  name: string,
  now = new Date(),
): Promise<string | null> {
  // rmSync unlinks symlinks it meets rather than following them.
  rmSync(join(config.workDir, name), { recursive: true, force: true })
  const local = join(await localRootOf(db, config), name)
  if (!existsSync(local)) return null
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')
  const moved = join(await localRootOf(db, config), `.removed-${name}-${stamp}`)
  renameSync(local, moved)
  return moved
}
