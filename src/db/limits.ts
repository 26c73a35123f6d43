import { and, asc, eq, gte, inArray, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { jsonText } from './dialect.ts'
import { destinations, jobs, repositories, tenants, type Tenant } from './schema.ts'
import { getAdminSettings } from './settings.ts'

/** Triggers that count as on-demand: everything a person or script starts, not the schedule. */
export const ON_DEMAND_TRIGGERS = ['manual', 'cli', 'api'] as const

/** The limits that apply to a tenant: its own where the admin set one, else the panel default. */
export type Limits = {
  bytes: number | null
  snapshots: number | null
  runsPerDay: number | null
}

export async function limitsOf(
  db: Db,
  tenant: Pick<Tenant, 'quotaBytes' | 'quotaSnapshots' | 'quotaRunsPerDay'>,
): Promise<Limits> {
  const d = await getAdminSettings(db)
  return {
    bytes: tenant.quotaBytes ?? d.quotaBytes,
    snapshots: tenant.quotaSnapshots ?? d.quotaSnapshots,
    runsPerDay: tenant.quotaRunsPerDay ?? d.quotaRunsPerDay,
  }
}

/** A tenant's own limits; null means the panel-wide default applies. */
export type TenantQuotas = {
  quotaBytes: number | null
  quotaSnapshots: number | null
  quotaRunsPerDay: number | null
}

export async function setTenantQuotas(
  db: Db,
  tenantId: number,
  quotas: TenantQuotas,
): Promise<void> {
  await db.update(tenants).set(quotas).where(eq(tenants.id, tenantId))
}

/**
 * What the tenant's repositories hold, summed over destinations, as last measured after a
 * backup (repositories never measured count as 0). Reached through the tenant's destinations
 * (indexed by tenant), as it runs after every run for the admin's health page.
 */
export async function storedUsage(
  db: Db,
  tenantId: number,
): Promise<{ bytes: number; snapshots: number }> {
  const row = (
    await db
      .select({
        bytes: sql<number>`coalesce(sum(${repositories.storedBytes}), 0)`,
        snapshots: sql<number>`coalesce(sum(${repositories.snapshotCount}), 0)`,
      })
      .from(destinations)
      .innerJoin(repositories, eq(repositories.destinationId, destinations.id))
      .where(eq(destinations.tenantId, tenantId))
  )[0]
  return { bytes: Number(row?.bytes ?? 0), snapshots: Number(row?.snapshots ?? 0) }
}

/**
 * When each on-demand backup job of the tenant created at or after `since` was queued, oldest
 * first. Jobs, not runs, are counted: a retried job is one backup however many attempts it takes.
 */
export async function onDemandSince(db: Db, tenantId: number, since: Date): Promise<Date[]> {
  const trigger = jsonText(db, jobs.payload, 'trigger')
  return (
    await db
      .select({ at: jobs.createdAt })
      .from(jobs)
      .where(
        and(
          eq(jobs.tenantId, tenantId),
          // Test restores and data checks started by hand cost like a backup.
          inArray(jobs.kind, ['backup', 'verify']),
          gte(jobs.createdAt, since),
          inArray(trigger, [...ON_DEMAND_TRIGGERS]),
        ),
      )
      .orderBy(asc(jobs.createdAt), asc(jobs.id))
  ).map((r) => r.at)
}

/** Every tenant's name and home folder (admin checks, e.g. where the local backup root may be). */
export async function tenantHomes(db: Db): Promise<{ name: string; homeDir: string }[]> {
  return await db.select({ name: tenants.name, homeDir: tenants.homeDir }).from(tenants)
}
