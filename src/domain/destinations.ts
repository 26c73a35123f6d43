import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import {
  findDestinationByName,
  getDestination,
  getOwnDestination,
  insertDestination,
  mergeDestinationSettings,
  readSecrets,
  sealSecrets,
  updateDestination,
} from '../db/destinations.ts'
import type { Destination } from '../db/schema.ts'
import type { Registry } from '../drivers/registry.ts'
import { parseSettings, redact } from '../drivers/spec.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import { typeAllowed } from '../db/settings.ts'
import { labelProblem } from '../names.ts'

export type DestinationDeps = { db: Db; secretKey: Buffer; drivers: Registry }

export type DestinationInput = { name: string; settings: Record<string, string | undefined> }

/**
 * Stores what a driver produced for a saved destination, which nobody typed: `settings` (a host
 * key pinned at Test connection) merged into its stored settings, `secrets` (a refresh token
 * from Connect) into its sealed secrets; everything else stays as stored.
 */
export async function mergeDestination(
  deps: DestinationDeps,
  tenantId: number,
  id: number,
  patch: { settings?: Record<string, unknown>; secrets?: Record<string, string> },
): Promise<void> {
  await transaction(deps.db, async (db) => {
    let sealed: string | undefined
    if (patch.secrets) {
      const stored = readSecrets(deps.secretKey, tenantId, await getDestination(db, tenantId, id))
      sealed = sealSecrets(deps.secretKey, tenantId, { ...stored, ...patch.secrets })
    }
    await mergeDestinationSettings(db, tenantId, id, patch.settings ?? {}, sealed)
  })
}

/** What a page may show of a destination: settings with each secret reduced to "is set". */
export function describeDestination(deps: DestinationDeps, tenantId: number, dest: Destination) {
  const driver = deps.drivers[dest.type]
  if (!driver) return { ...dest, values: {} as Record<string, unknown> }
  return {
    ...dest,
    values: redact(driver.settings, dest.settings, readSecrets(deps.secretKey, tenantId, dest)),
  }
}

/**
 * Creates (`id` null) or updates a destination from form text. Blank secret fields keep their
 * stored value. Throws InputError keyed by field (`name`, or the spec field name).
 */
export async function saveDestination(
  deps: DestinationDeps,
  tenantId: number,
  type: string,
  id: number | null,
  input: DestinationInput,
): Promise<Destination> {
  const driver = deps.drivers[type]
  if (!driver) throw new NotFoundError('That destination type')
  const existing = id === null ? null : await getOwnDestination(deps.db, tenantId, id)
  if (!existing && !(await typeAllowed(deps.db, type))) {
    throw new ConflictError('Your hosting provider does not allow this destination type.')
  }
  if (existing && existing.type !== type) throw new NotFoundError('That destination')
  const errors: Record<string, string> = {}
  const name = input.name.trim()
  const nameProblem = labelProblem(name, 'Name')
  const clash = await findDestinationByName(deps.db, tenantId, name)
  if (nameProblem) errors.name = nameProblem
  else if (clash && clash.id !== id) errors.name = `You already have a destination named “${name}”.`
  const stored = existing ? readSecrets(deps.secretKey, tenantId, existing) : {}
  const parsed = parseSettings(driver.settings, input.settings, stored)
  if (!parsed.ok) Object.assign(errors, parsed.errors)
  if (Object.keys(errors).length || !parsed.ok) throw new InputError(errors)
  const secrets = Object.keys(parsed.secrets).length
    ? sealSecrets(deps.secretKey, tenantId, parsed.secrets)
    : null
  const fields = { name, settings: parsed.settings, secrets }
  if (!existing) return insertDestination(deps.db, tenantId, { type, ...fields })
  await updateDestination(deps.db, tenantId, existing.id, fields)
  return getDestination(deps.db, tenantId, existing.id)
}
