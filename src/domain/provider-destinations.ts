import {
  findProviderDestinationByName,
  getProviderDestination,
  insertProviderDestination,
  readProviderSecrets,
  updateProviderDestination,
} from '../db/provider-destinations.ts'
import type { ProviderDestination } from '../db/schema.ts'
import { parseSettings, redact } from '../drivers/spec.ts'
import { InputError, NotFoundError } from '../errors.ts'
import { labelProblem } from '../names.ts'
import type { DestinationDeps, DestinationInput } from './destinations.ts'
import { syncProvider } from './provider-sync.ts'

/**
 * The driver context a provider destination is tested and opened with outside any tenant
 * (Test connection on the admin page, the panel's own backup): a name no tenant can have.
 */
export const HOST_CONTEXT_NAME = '_panel'

/**
 * Creates (`id` null) or updates a provider destination from form text, as saveDestination does
 * for a tenant's (blank secret fields keep their stored value; InputError keyed by field), then
 * mirrors its settings into every tenant's copy. Any destination type may be used: the types
 * tenants may add are the admin's choice for tenants, not for the host.
 */
export async function saveProviderDestination(
  deps: DestinationDeps,
  type: string,
  id: number | null,
  input: DestinationInput,
): Promise<ProviderDestination> {
  const driver = deps.drivers[type]
  if (!driver) throw new NotFoundError('That destination type')
  const existing = id === null ? null : await getProviderDestination(deps.db, id)
  if (existing && existing.type !== type) throw new NotFoundError('That provider destination')
  const errors: Record<string, string> = {}
  const name = input.name.trim()
  const nameProblem = labelProblem(name, 'Name')
  const clash = nameProblem ? undefined : await findProviderDestinationByName(deps.db, name)
  if (nameProblem) errors.name = nameProblem
  else if (clash && clash.id !== id) errors.name = `A provider destination named “${name}” exists.`
  const stored = existing ? readProviderSecrets(deps.secretKey, existing) : {}
  const parsed = parseSettings(driver.settings, input.settings, stored)
  if (!parsed.ok) Object.assign(errors, parsed.errors)
  if (Object.keys(errors).length || !parsed.ok) throw new InputError(errors)
  const fields = { name, settings: parsed.settings, secrets: parsed.secrets }
  if (!existing) return insertProviderDestination(deps.db, deps.secretKey, { type, ...fields })
  await updateProviderDestination(deps.db, deps.secretKey, existing.id, fields)
  await syncProvider(deps.db)
  return getProviderDestination(deps.db, existing.id)
}

/**
 * Merges what a driver produced for a saved provider destination (a host key pinned at Test
 * connection, a refresh token from Connect) and mirrors it to the tenants' copies.
 */
export async function mergeProviderDestination(
  deps: DestinationDeps,
  id: number,
  patch: { settings?: Record<string, unknown>; secrets?: Record<string, string> },
): Promise<void> {
  const row = await getProviderDestination(deps.db, id)
  await updateProviderDestination(deps.db, deps.secretKey, id, {
    name: row.name,
    settings: { ...row.settings, ...patch.settings },
    secrets: { ...readProviderSecrets(deps.secretKey, row), ...patch.secrets },
  })
  await syncProvider(deps.db)
}

/** What the admin page may show of a provider destination: each secret reduced to "is set". */
export function describeProviderDestination(deps: DestinationDeps, dest: ProviderDestination) {
  const driver = deps.drivers[dest.type]
  if (!driver) return { ...dest, values: {} as Record<string, unknown> }
  return {
    ...dest,
    values: redact(driver.settings, dest.settings, readProviderSecrets(deps.secretKey, dest)),
  }
}
