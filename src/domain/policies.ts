import type { Db } from '../db/client.ts'
import { ownedDestinationIds } from '../db/destinations.ts'
import {
  findPolicyByName,
  getPolicy,
  ownedDatabaseIds,
  savePolicyRow,
  type PolicyFields,
} from '../db/policies.ts'
import { HostOwnedError, InputError } from '../errors.ts'
import { PRESETS, nextRuns, type Preset } from '../schedule.ts'
import { canonicalZone, zoneProblem } from '../time-zones.ts'
import { labelProblem } from '../names.ts'
import { intervalProblem } from './limits.ts'
import { getAdminSettings } from '../db/settings.ts'

export type PolicyInput = {
  name: string
  includeHome: boolean
  /** One glob per line, relative to the home folder; empty means the whole home. */
  include: string
  exclude: string
  includePanelSettings: boolean
  databaseIds: number[]
  destinationIds: number[]
  /** A preset name, or 'custom' to use `cron`. */
  preset: string
  cron: string
  timezone: string
  keepLast: string
  keepDaily: string
  keepWeekly: string
  keepMonthly: string
  keepYearly: string
  enabled: boolean
}

export const RETENTION = [
  'keepLast',
  'keepDaily',
  'keepWeekly',
  'keepMonthly',
  'keepYearly',
] as const

/** Empty form values for a new policy: daily, whole home, retention 7/4/12. */
export function newPolicyInput(timezone: string): PolicyInput {
  return {
    name: '',
    includeHome: true,
    include: '',
    exclude: '',
    includePanelSettings: true,
    databaseIds: [],
    destinationIds: [],
    preset: 'daily',
    cron: PRESETS.daily.cron,
    timezone,
    keepLast: '0',
    keepDaily: '7',
    keepWeekly: '4',
    keepMonthly: '12',
    keepYearly: '0',
    enabled: true,
  }
}

/** The cron expression the input stands for: the preset's, or the typed one. */
export function cronOf(input: Pick<PolicyInput, 'preset' | 'cron'>): string {
  return input.preset in PRESETS ? PRESETS[input.preset as Preset].cron : input.cron.trim()
}

export function globLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
}

function globProblem(lines: string[]): string | undefined {
  if (lines.length > 100) return 'Use at most 100 patterns.'
  for (const line of lines) {
    if (line.startsWith('/') || line.startsWith('~')) {
      return `“${line}”: patterns are relative to your home folder, e.g. public_html/**.`
    }
    if (line.split('/').includes('..')) return `“${line}”: “..” is not allowed.`
    if (/[\0-\x1f]/.test(line) || line.length > 500)
      return `“${line.slice(0, 40)}”: not a valid pattern.`
  }
  return undefined
}

/**
 * Validates a policy and saves it (`id` null creates). Destinations and databases are checked
 * to be the tenant's own. Throws InputError keyed by field.
 */
export async function savePolicy(
  db: Db,
  tenantId: number,
  id: number | null,
  input: PolicyInput,
): Promise<number> {
  if (id !== null) {
    const existing = await getPolicy(db, tenantId, id)
    if (existing.providerPolicyId !== null)
      throw new HostOwnedError(`The policy “${existing.name}”`)
  }
  const errors: Record<string, string> = {}
  const name = input.name.trim()
  const nameProblem = labelProblem(name, 'Name')
  const clash = nameProblem ? undefined : await findPolicyByName(db, tenantId, name)
  if (nameProblem) errors.name = nameProblem
  else if (clash && clash.id !== id) errors.name = `You already have a policy named “${name}”.`

  const include = globLines(input.include)
  const exclude = globLines(input.exclude)
  const incProblem = globProblem(include)
  const excProblem = globProblem(exclude)
  if (incProblem) errors.include = incProblem
  if (excProblem) errors.exclude = excProblem

  const databaseIds = [...new Set(input.databaseIds)]
  const destinationIds = [...new Set(input.destinationIds)]
  const ownedDbs = await ownedDatabaseIds(db, tenantId, databaseIds)
  const ownedDests = await ownedDestinationIds(db, tenantId, destinationIds)
  if (ownedDbs.length !== databaseIds.length) errors.databases = 'Choose databases from the list.'
  if (!input.includeHome && !input.includePanelSettings && !databaseIds.length) {
    errors.what = 'Choose at least one thing to back up.'
  }
  if (!destinationIds.length) errors.destinations = 'Choose at least one destination.'
  else if (ownedDests.length !== destinationIds.length) {
    errors.destinations = 'Choose destinations from the list.'
  }

  const cron = cronOf(input)
  if (input.preset !== 'custom' && !(input.preset in PRESETS)) errors.cron = 'Choose a schedule.'
  // Saved under its current name (Asia/Calcutta → Asia/Kolkata); the cron is checked either way.
  const timezone = canonicalZone(input.timezone)
  if (!timezone) errors.timezone = zoneProblem(input.timezone) ?? 'Choose a time zone.'
  const check = nextRuns(cron, timezone ?? 'UTC')
  if (!check.ok && !errors.cron) errors[check.field] = check.error
  const tooOften = intervalProblem(
    cron,
    timezone ?? 'UTC',
    (await getAdminSettings(db)).minIntervalMinutes,
  )
  if (tooOften && !errors.cron) errors.cron = tooOften

  const keep: Record<string, number> = {}
  for (const field of RETENTION) {
    const text = input[field].trim() || '0'
    const n = Number(text)
    if (!/^\d+$/.test(text) || n > 10_000) errors[field] = 'Use a whole number from 0 to 10000.'
    keep[field] = n
  }
  if (RETENTION.every((f) => !errors[f] && keep[f] === 0)) {
    errors.retention = 'Keep at least one backup: set one of the numbers above 0.'
  }
  if (Object.keys(errors).length) throw new InputError(errors)

  const fields: PolicyFields = {
    name,
    includeHome: input.includeHome,
    includeGlobs: include,
    excludeGlobs: exclude,
    includePanelSettings: input.includePanelSettings,
    schedule: cron,
    timezone: timezone!,
    keepLast: keep.keepLast!,
    keepDaily: keep.keepDaily!,
    keepWeekly: keep.keepWeekly!,
    keepMonthly: keep.keepMonthly!,
    keepYearly: keep.keepYearly!,
    enabled: input.enabled,
  }
  return savePolicyRow(db, tenantId, id, fields, destinationIds, databaseIds)
}
