import { createHash } from 'node:crypto'
import { eq, inArray } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import {
  destinations,
  policies,
  policyDatabases,
  policyDestinations,
  tenantDatabases,
  tenants,
  type Policy,
  type ProviderDestination,
} from '../db/schema.ts'
import { listProviderDestinations } from '../db/provider-destinations.ts'
import { listProviderPolicies, type ProviderPolicyWithLinks } from '../db/provider-policies.ts'
import { refreshTenantHealth } from '../db/health.ts'
import { serverZone } from '../zoned.ts'

/** Minutes from `HH:MM` start to `HH:MM` end; an end at or before the start crosses midnight. */
export function windowMinutes(start: string, end: string): number {
  const span = (minuteOf(end) - minuteOf(start) + 1440) % 1440
  return span === 0 ? 1440 : span
}

export function minuteOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number)
  return h! * 60 + m!
}

/**
 * The tenant's own start minute (of the day) inside the policy's window: a hash of the two ids,
 * so starts spread evenly over the window and stay put when tenants come and go. The scheduler
 * adds up to 10 more minutes (spreadMs), so the last 10 minutes of a long window stay free.
 */
export function startMinute(policyId: number, tenantId: number, start: string, end: string) {
  const span = windowMinutes(start, end)
  const room = span > 20 ? span - 10 : span
  const hash = createHash('sha256').update(`provider:${policyId}:${tenantId}`).digest()
  return (minuteOf(start) + Math.floor((hash.readUInt32BE(0) / 2 ** 32) * room)) % 1440
}

/** The daily cron line a tenant's copy of a provider policy runs on. */
export function copySchedule(p: ProviderPolicyWithLinks, tenantId: number): string {
  const at = startMinute(p.id, tenantId, p.windowStart, p.windowEnd)
  return `${at % 60} ${Math.floor(at / 60)} * * *`
}

export const appliesTo = (p: { scope: string; plan: string | null }, plan: string | null) =>
  p.scope === 'all' || (p.plan !== null && p.plan === plan)

type Counts = { created: number; updated: number; removed: number }

/**
 * Makes every tenant's copies match the provider policies: a read-only policy per matching
 * policy (its own start minute in the window, every assigned database, the policy's retention)
 * and a destination copy per provider destination it uses (settings mirrored, no secrets: the
 * engine reads those from the host's row). A tenant that no longer matches loses the policy
 * copy but keeps the destination copy, so its backups there stay restorable. Idempotent and
 * cheap when nothing changed; `tenantIds` limits it to those tenants (a new tenant, a plan change).
 */
export async function syncProvider(db: Db, opts: { tenantIds?: number[] } = {}): Promise<Counts> {
  const counts: Counts = { created: 0, updated: 0, removed: 0 }
  const touched = new Set<number>()
  const plans = await listProviderPolicies(db)
  const hosts = new Map((await listProviderDestinations(db)).map((h) => [h.id, h]))
  const scope = opts.tenantIds
  const all = await db
    .select({ id: tenants.id, plan: tenants.plan })
    .from(tenants)
    .where(scope ? inArray(tenants.id, scope) : undefined)
  // A transaction per chunk: 10,000 tenants never hold the write lock (and the runner's claims
  // and heartbeats) for seconds on end.
  for (let i = 0; i < all.length; i += CHUNK) {
    const chunk = all.slice(i, i + CHUNK)
    await transaction(db, () => syncChunk(db, plans, hosts, chunk, counts, touched))
  }
  for (const id of touched) await refreshTenantHealth(db, id)
  return counts
}

const CHUNK = 500

async function syncChunk(
  d: Db,
  plans: ProviderPolicyWithLinks[],
  hosts: Map<number, ProviderDestination>,
  tenantRows: { id: number; plan: string | null }[],
  counts: Counts,
  touched: Set<number>,
): Promise<void> {
  const ids = tenantRows.map((t) => t.id)
  const destRows = await d.select().from(destinations).where(inArray(destinations.tenantId, ids))
  const policyRows = await d.select().from(policies).where(inArray(policies.tenantId, ids))
  const dbRows = await d
    .select({ id: tenantDatabases.id, tenantId: tenantDatabases.tenantId })
    .from(tenantDatabases)
    .where(inArray(tenantDatabases.tenantId, ids))
  const linksOf = await linkMaps(
    d,
    policyRows.filter((p) => p.providerPolicyId !== null).map((p) => p.id),
  )
  const byTenant = <T extends { tenantId: number }>(rows: T[]) => {
    const m = new Map<number, T[]>()
    for (const r of rows) {
      const list = m.get(r.tenantId)
      if (list) list.push(r)
      else m.set(r.tenantId, [r])
    }
    return m
  }
  const destsOf = byTenant(destRows)
  const policiesOf = byTenant(policyRows)
  const dbsOf = byTenant(dbRows)
  const zone = serverZone()
  for (const tenant of tenantRows) {
    const own = { dests: destsOf.get(tenant.id) ?? [], pols: policiesOf.get(tenant.id) ?? [] }
    // Destination copies mirror the host's type and settings.
    for (const copy of own.dests) {
      const host =
        copy.providerDestinationId === null ? null : hosts.get(copy.providerDestinationId)
      const want = host && copySettings(host)
      if (want && JSON.stringify(want) !== JSON.stringify(copy.settings)) {
        await d
          .update(destinations)
          .set({ settings: want, updatedAt: new Date() })
          .where(eq(destinations.id, copy.id))
        counts.updated++
      }
    }
    for (const p of plans) {
      const copy = own.pols.find((x) => x.providerPolicyId === p.id)
      if (!appliesTo(p, tenant.plan)) {
        if (copy) {
          await d.delete(policies).where(eq(policies.id, copy.id))
          counts.removed++
          touched.add(tenant.id)
        }
        continue
      }
      const destIds: number[] = []
      for (const h of p.destinations) {
        const found = own.dests.find((x) => x.providerDestinationId === h.id)
        if (found) {
          destIds.push(found.id)
          continue
        }
        const host = hosts.get(h.id)!
        const made = (
          await d
            .insert(destinations)
            .values({
              tenantId: tenant.id,
              type: host.type,
              name: freeName(host.name, own.dests),
              settings: copySettings(host),
              secrets: null,
              providerDestinationId: host.id,
            })
            .returning()
        )[0]
        own.dests.push(made)
        destIds.push(made.id)
      }
      const dbIds = p.includeDatabases ? (dbsOf.get(tenant.id) ?? []).map((r) => r.id) : []
      const fields = {
        name: copy && sameName(copy.name, p.name) ? copy.name : freeName(p.name, own.pols, copy),
        includeHome: p.includeHome,
        includeGlobs: [] as string[],
        excludeGlobs: p.excludeGlobs,
        includePanelSettings: false,
        schedule: copySchedule(p, tenant.id),
        timezone: zone,
        keepLast: p.keepLast,
        keepDaily: p.keepDaily,
        keepWeekly: p.keepWeekly,
        keepMonthly: p.keepMonthly,
        keepYearly: p.keepYearly,
        enabled: p.enabled,
      }
      const links = copy ? linksOf(copy.id) : null
      if (copy && links && same(copy, fields, links, destIds, dbIds)) continue
      const id = copy
        ? (await d
            .update(policies)
            .set({ ...fields, updatedAt: new Date() })
            .where(eq(policies.id, copy.id)),
          copy.id)
        : (
            await d
              .insert(policies)
              .values({ tenantId: tenant.id, providerPolicyId: p.id, ...fields })
              .returning()
          )[0].id
      if (!copy)
        own.pols.push({ ...fields, id, tenantId: tenant.id, providerPolicyId: p.id } as Policy)
      await d.delete(policyDestinations).where(eq(policyDestinations.policyId, id))
      await d.delete(policyDatabases).where(eq(policyDatabases.policyId, id))
      if (destIds.length)
        await d
          .insert(policyDestinations)
          .values(destIds.map((destinationId) => ({ policyId: id, destinationId })))
      if (dbIds.length)
        await d
          .insert(policyDatabases)
          .values(dbIds.map((databaseId) => ({ policyId: id, databaseId })))
      counts[copy ? 'updated' : 'created']++
      touched.add(tenant.id)
    }
    // A copy whose provider policy is gone went with it (on delete cascade).
  }
}

/**
 * A tenant's copy's settings: the host's, except that a Local one lives under `_host/` in the
 * tenant's share of the backup root, a folder name tenants cannot choose for their own.
 */
export function copySettings(host: ProviderDestination): Record<string, unknown> {
  if (host.type !== 'local') return host.settings
  return { ...host.settings, folder: `_host/${String(host.settings.folder ?? 'backups')}` }
}

/** `name`, or `name (host)`, `name (host 2)`… when the tenant already uses it for its own. */
function freeName(
  name: string,
  rows: { id: number; name: string }[],
  self?: { id: number },
): string {
  const taken = (n: string) => rows.some((r) => r.name === n && r.id !== self?.id)
  if (!taken(name)) return name
  for (let i = 1; ; i++) {
    const next = i === 1 ? `${name} (host)` : `${name} (host ${i})`
    if (!taken(next)) return next
  }
}

const sameName = (copyName: string, name: string) =>
  copyName === name || copyName.startsWith(`${name} (host`)

async function linkMaps(db: Db, policyIds: number[]) {
  const dests = new Map<number, number[]>()
  const dbs = new Map<number, number[]>()
  if (policyIds.length) {
    for (const r of await db
      .select()
      .from(policyDestinations)
      .where(inArray(policyDestinations.policyId, policyIds)))
      dests.set(r.policyId, [...(dests.get(r.policyId) ?? []), r.destinationId])
    for (const r of await db
      .select()
      .from(policyDatabases)
      .where(inArray(policyDatabases.policyId, policyIds)))
      dbs.set(r.policyId, [...(dbs.get(r.policyId) ?? []), r.databaseId])
  }
  return (id: number) => ({ dests: dests.get(id) ?? [], dbs: dbs.get(id) ?? [] })
}

function same(
  copy: Policy,
  fields: Record<string, unknown>,
  links: { dests: number[]; dbs: number[] },
  destIds: number[],
  dbIds: number[],
): boolean {
  const sameSet = (a: number[], b: number[]) =>
    a.length === b.length && [...a].sort().join() === [...b].sort().join()
  return (
    Object.entries(fields).every(
      ([k, v]) => JSON.stringify((copy as Record<string, unknown>)[k]) === JSON.stringify(v),
    ) &&
    sameSet(links.dests, destIds) &&
    sameSet(links.dbs, dbIds)
  )
}
