import type { Db } from '../db/client.ts'
import type { Tenant } from '../db/schema.ts'
import { findDestinationByName } from '../db/destinations.ts'
import { findProviderDestinationByName } from '../db/provider-destinations.ts'
import { listTenantDatabases } from '../db/tenants.ts'
import { RETENTION } from '../domain/policies.ts'
import { InputError } from '../errors.ts'
import { UsageError } from './io.ts'

/** `keepDaily` → `keep-daily`: a retention field's option name. */
export const flag = (field: string) => field.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase())

/** The options of `policy add`; `policy edit` takes them too, plus the ones that undo a flag. */
export const policyOptions = {
  name: { type: 'string' },
  destination: { type: 'string', multiple: true },
  schedule: { type: 'string' },
  timezone: { type: 'string' },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  database: { type: 'string', multiple: true },
  'no-home': { type: 'boolean' },
  disabled: { type: 'boolean' },
  'all-tenants': { type: 'boolean' },
  group: { type: 'string' },
  window: { type: 'string' },
  'no-databases': { type: 'boolean' },
  ...Object.fromEntries(RETENTION.map((f) => [flag(f), { type: 'string' as const }])),
} as const

/** A tenant's destinations by name, as ids (InputError naming the first unknown one). */
export async function tenantDestinationIds(
  db: Db,
  tenantId: number,
  names: string[],
): Promise<number[]> {
  const ids: number[] = []
  for (const name of names) {
    const dest = await findDestinationByName(db, tenantId, name)
    if (!dest) throw new InputError({ destination: `No destination named “${name}”.` })
    ids.push(dest.id)
  }
  return ids
}

/** The databases assigned to a tenant, by name, as ids. */
export async function tenantDatabaseIds(
  db: Db,
  tenant: Tenant,
  names: string[],
): Promise<number[]> {
  const assigned = await listTenantDatabases(db, tenant.id)
  return names.map((name) => {
    const found = assigned.find((d) => d.name === name)
    if (!found)
      throw new InputError({ database: `No database “${name}” is assigned to ${tenant.name}.` })
    return found.id
  })
}

/** The host's own destinations by name, as ids. */
export async function providerDestinationIds(db: Db, names: string[]): Promise<number[]> {
  const ids: number[] = []
  for (const name of names) {
    const dest = await findProviderDestinationByName(db, name)
    if (!dest)
      throw new InputError({
        destination: `No provider destination named “${name}” (add one with destination add --admin).`,
      })
    ids.push(dest.id)
  }
  return ids
}

/** `--window 01:00-05:00` as its start and end. */
export function parseWindow(window: string): [string, string] {
  const m = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(window)
  if (!m) throw new UsageError('--window takes HH:MM-HH:MM, e.g. 01:00-05:00')
  return [m[1]!, m[2]!]
}

/** A flag and its opposite (`--home`/`--no-home`): true, false, or undefined when neither. */
export function toggle(opts: Record<string, any>, on: string, off: string): boolean | undefined {
  if (opts[on] && opts[off]) throw new UsageError(`give either --${on} or --${off}, not both`)
  return opts[on] ? true : opts[off] ? false : undefined
}
