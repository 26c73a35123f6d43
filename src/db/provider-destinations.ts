import { asc, eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction } from './tx.ts'
import {
  destinations,
  providerDestinations,
  providerPolicies,
  providerPolicyDestinations,
  type ProviderDestination,
} from './schema.ts'
import { ConflictError, NotFoundError } from '../errors.ts'
import { open, seal } from '../secret-box.ts'
import { valuesOf, type Spec } from '../drivers/spec.ts'

/** Associated data for a provider destination's sealed secrets. */
const secretContext = (id: number) => `provider-destination:${id}`

export type ProviderDestinationFields = {
  type: string
  name: string
  settings: Record<string, unknown>
  secrets: Partial<Record<string, string>>
}

export function readProviderSecrets(
  key: Buffer,
  dest: ProviderDestination,
): Record<string, string> {
  return dest.secrets ? JSON.parse(open(key, dest.secrets, secretContext(dest.id))) : {}
}

/** A provider destination's settings and secrets as its driver takes them. */
export function providerValues<S extends Spec>(key: Buffer, dest: ProviderDestination, spec: S) {
  return valuesOf(spec, dest.settings, readProviderSecrets(key, dest))
}

export async function listProviderDestinations(db: Db): Promise<ProviderDestination[]> {
  return await db.select().from(providerDestinations).orderBy(asc(providerDestinations.name))
}

export async function getProviderDestination(db: Db, id: number): Promise<ProviderDestination> {
  const row = (
    await db.select().from(providerDestinations).where(eq(providerDestinations.id, id))
  )[0]
  if (!row) throw new NotFoundError('That provider destination')
  return row
}

export async function findProviderDestinationByName(db: Db, name: string) {
  return (
    await db.select().from(providerDestinations).where(eq(providerDestinations.name, name))
  )[0]
}

/** Adds a provider destination; its secrets are sealed under its own id. */
export async function insertProviderDestination(
  db: Db,
  key: Buffer,
  fields: ProviderDestinationFields,
): Promise<ProviderDestination> {
  if (await findProviderDestinationByName(db, fields.name))
    throw new ConflictError(`A provider destination named “${fields.name}” already exists.`)
  return await transaction(db, async (tx) => {
    const row = (
      await tx
        .insert(providerDestinations)
        .values({ type: fields.type, name: fields.name, settings: fields.settings })
        .returning()
    )[0]
    const secrets = sealProviderSecrets(key, row.id, fields.secrets)
    await tx
      .update(providerDestinations)
      .set({ secrets })
      .where(eq(providerDestinations.id, row.id))
    return { ...row, secrets }
  })
}

export function sealProviderSecrets(
  key: Buffer,
  id: number,
  secrets: Partial<Record<string, string>>,
): string {
  return seal(key, JSON.stringify(secrets), secretContext(id))
}

/**
 * Replaces a provider destination's name, settings and secrets (the caller merges blank secret
 * fields with the stored ones first). Tenants' copies follow at the next `syncProvider`.
 */
export async function updateProviderDestination(
  db: Db,
  key: Buffer,
  id: number,
  fields: Omit<ProviderDestinationFields, 'type'>,
): Promise<void> {
  const other = await findProviderDestinationByName(db, fields.name)
  if (other && other.id !== id)
    throw new ConflictError(`A provider destination named “${fields.name}” already exists.`)
  await db
    .update(providerDestinations)
    .set({
      name: fields.name,
      settings: fields.settings,
      secrets: sealProviderSecrets(key, id, fields.secrets),
      updatedAt: new Date(),
    })
    .where(eq(providerDestinations.id, id))
}

/** Names of the provider policies that use a provider destination. */
export async function providerPoliciesUsing(db: Db, id: number): Promise<string[]> {
  return (
    await db
      .select({ name: providerPolicies.name })
      .from(providerPolicyDestinations)
      .innerJoin(
        providerPolicies,
        eq(providerPolicyDestinations.providerPolicyId, providerPolicies.id),
      )
      .where(eq(providerPolicyDestinations.providerDestinationId, id))
  ).map((r) => r.name)
}

/** How many tenants have a copy of it (and so backups stored there). */
export async function tenantCopies(db: Db, id: number): Promise<number> {
  return (
    await db
      .select({ id: destinations.id })
      .from(destinations)
      .where(eq(destinations.providerDestinationId, id))
  ).length
}

/**
 * Removes a provider destination and every tenant's copy of it (their backups there stay on
 * the storage, but the panel forgets them). Refused while a provider policy uses it.
 */
export async function deleteProviderDestination(db: Db, id: number): Promise<void> {
  const dest = await getProviderDestination(db, id)
  const users = await providerPoliciesUsing(db, id)
  if (users.length) {
    throw new ConflictError(
      `“${dest.name}” is used by ${users.map((n) => `“${n}”`).join(', ')}. ` +
        'Remove it from those provider policies first.',
    )
  }
  await db.delete(providerDestinations).where(eq(providerDestinations.id, id))
}
