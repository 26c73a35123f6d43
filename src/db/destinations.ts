import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres } from './dialect.ts'
import { destinations, policies, policyDestinations, type Destination } from './schema.ts'
import { ConflictError, HostOwnedError, NotFoundError } from '../errors.ts'
import { open, seal } from '../secret-box.ts'
import { valuesOf, type Spec } from '../drivers/spec.ts'
import { getProviderDestination, readProviderSecrets } from './provider-destinations.ts'

/** Associated data for a tenant's sealed destination secrets. */
const secretContext = (tenantId: number) => `destination-secrets:tenant:${tenantId}`

/** A destination's secret settings, unsealed ({} when it has none). */
export function readSecrets(
  key: Buffer,
  tenantId: number,
  dest: Destination,
): Record<string, string> {
  return dest.secrets ? JSON.parse(open(key, dest.secrets, secretContext(tenantId))) : {}
}

/** Seals a tenant's destination secrets for the `secrets` column. */
export function sealSecrets(
  key: Buffer,
  tenantId: number,
  secrets: Partial<Record<string, string>>,
): string {
  return seal(key, JSON.stringify(secrets), secretContext(tenantId))
}

/** A saved destination's settings and secrets as its driver takes them: typed by its `spec`. */
export function storedValues<S extends Spec>(
  key: Buffer,
  tenantId: number,
  dest: Destination,
  spec: S,
) {
  return valuesOf(spec, dest.settings, readSecrets(key, tenantId, dest))
}

/**
 * The settings and secrets a driver opens `dest` with. A tenant's copy of a provider destination
 * holds no secrets of its own: they are read from the host's row, so the tenant's row (and any
 * page built from it) never carries the host's credentials.
 */
export async function destinationValues<S extends Spec>(
  db: Db,
  key: Buffer,
  tenantId: number,
  dest: Destination,
  spec: S,
) {
  if (dest.providerDestinationId === null) return storedValues(key, tenantId, dest, spec)
  const host = await getProviderDestination(db, dest.providerDestinationId)
  // The copy's settings (kept in line with the host's by syncProvider), the host's secrets.
  return valuesOf(spec, dest.settings, readProviderSecrets(key, host))
}

export type DestinationFields = {
  type: string
  name: string
  settings: Record<string, unknown>
  secrets: string | null
}

export async function listDestinations(db: Db, tenantId: number): Promise<Destination[]> {
  return await db
    .select()
    .from(destinations)
    .where(eq(destinations.tenantId, tenantId))
    .orderBy(asc(destinations.name))
}

/** A destination the tenant may change: its own, not a copy of its host's (HostOwnedError). */
export async function getOwnDestination(
  db: Db,
  tenantId: number,
  id: number,
): Promise<Destination> {
  const dest = await getDestination(db, tenantId, id)
  if (dest.providerDestinationId !== null) throw new HostOwnedError(`“${dest.name}”`)
  return dest
}

export async function getDestination(db: Db, tenantId: number, id: number): Promise<Destination> {
  const row = (
    await db
      .select()
      .from(destinations)
      .where(and(eq(destinations.tenantId, tenantId), eq(destinations.id, id)))
  )[0]
  if (!row) throw new NotFoundError('That destination')
  return row
}

export async function findDestinationByName(db: Db, tenantId: number, name: string) {
  return (
    await db
      .select()
      .from(destinations)
      .where(and(eq(destinations.tenantId, tenantId), eq(destinations.name, name)))
  )[0]
}

export async function insertDestination(db: Db, tenantId: number, fields: DestinationFields) {
  return (
    await db
      .insert(destinations)
      .values({ tenantId, ...fields })
      .returning()
  )[0]
}

export async function updateDestination(
  db: Db,
  tenantId: number,
  id: number,
  fields: Omit<DestinationFields, 'type'>,
): Promise<void> {
  await db
    .update(destinations)
    .set({ ...fields, updatedAt: new Date() })
    .where(and(eq(destinations.tenantId, tenantId), eq(destinations.id, id)))
}

/**
 * Merges `settings` into a destination's stored settings, keys not named kept (SQLite's
 * json_patch, so a concurrent save of other fields is not undone; a null value removes its
 * key); with `secrets`, replaces its sealed secrets too. For values a driver produced itself (a
 * pinned host key, a refresh token): they never go through form text.
 */
export async function mergeDestinationSettings(
  db: Db,
  tenantId: number,
  id: number,
  settings: Record<string, unknown>,
  secrets?: string,
): Promise<void> {
  const patch = JSON.stringify(settings)
  // RFC 7396 merge in one statement (no read-modify-write): a null in the patch removes the key.
  const nulls = Object.keys(settings).filter((k) => settings[k] === null)
  const merged = isPostgres(db)
    ? sql`(${destinations.settings} || ${patch}::jsonb) - ${sql.raw(`array[${nulls.map(pgText).join(',')}]::text[]`)}`
    : sql`json_patch(${destinations.settings}, ${patch})`
  await db
    .update(destinations)
    .set({
      settings: merged,
      ...(secrets === undefined ? {} : { secrets }),
      updatedAt: new Date(),
    })
    .where(and(eq(destinations.tenantId, tenantId), eq(destinations.id, id)))
}

/** Names of the tenant's policies that use a destination. */
export async function policiesUsing(
  db: Db,
  tenantId: number,
  destinationId: number,
): Promise<string[]> {
  return (
    await db
      .select({ name: policies.name })
      .from(policyDestinations)
      .innerJoin(policies, eq(policyDestinations.policyId, policies.id))
      .where(
        and(eq(policies.tenantId, tenantId), eq(policyDestinations.destinationId, destinationId)),
      )
  ).map((r) => r.name)
}

/** Deletes a destination; refused while any policy uses it. */
export async function deleteDestination(db: Db, tenantId: number, id: number): Promise<void> {
  const dest = await getDestination(db, tenantId, id)
  if (dest.providerDestinationId !== null) throw new HostOwnedError(`“${dest.name}”`)
  const users = await policiesUsing(db, tenantId, id)
  if (users.length) {
    throw new ConflictError(
      `“${dest.name}” is used by ${users.map((n) => `“${n}”`).join(', ')}. ` +
        'Remove it from those policies first.',
    )
  }
  await db
    .delete(destinations)
    .where(and(eq(destinations.tenantId, tenantId), eq(destinations.id, id)))
}

/** The subset of `ids` that are this tenant's own destinations (not its host's). */
export async function ownedDestinationIds(
  db: Db,
  tenantId: number,
  ids: number[],
): Promise<number[]> {
  if (!ids.length) return []
  return (
    await db
      .select({ id: destinations.id })
      .from(destinations)
      .where(
        and(
          eq(destinations.tenantId, tenantId),
          inArray(destinations.id, ids),
          isNull(destinations.providerDestinationId),
        ),
      )
  ).map((r) => r.id)
}

/** A constant key as a PostgreSQL text literal. */
function pgText(key: string): string {
  return `'${key.replace(/'/g, "''")}'`
}
