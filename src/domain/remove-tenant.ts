import { and, eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
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
 * history. Never touches its home, its system user or the backups stored on its destinations:
 * those repositories stay where they are and open with the recovery kit or stock restic.
 * Refused while one of its jobs is running. Returns the destinations whose backups were kept.
 */
export function removeTenant(db: Db, tenant: Tenant): Destination[] {
  return db.transaction((tx) => {
    const running = tx
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.tenantId, tenant.id), eq(jobs.status, 'running')))
      .get()
    if (running) {
      throw new ConflictError(
        `“${tenant.name}” has a job running (#${running.id}); wait for it to end or pause the runner first.`,
      )
    }
    const kept = tx.select().from(destinations).where(eq(destinations.tenantId, tenant.id)).all()
    // Policies first: a destination in use by a policy is protected from deletion on purpose.
    tx.delete(policies).where(eq(policies.tenantId, tenant.id)).run()
    tx.delete(tenants).where(eq(tenants.id, tenant.id)).run()
    return kept
  })
}
