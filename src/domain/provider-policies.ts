import type { Db } from '../db/client.ts'
import {
  deleteProviderPolicy,
  findProviderPolicyByName,
  saveProviderPolicyRow,
} from '../db/provider-policies.ts'
import { listProviderDestinations } from '../db/provider-destinations.ts'
import type { ProviderPolicyWithLinks } from '../db/provider-policies.ts'
import { InputError } from '../errors.ts'
import { labelProblem, planProblem } from '../names.ts'
import { globLines, RETENTION } from './policies.ts'
import { syncProvider } from './provider-sync.ts'
import { tenantsCovered } from '../db/provider-coverage.ts'

export type ProviderPolicyInput = {
  name: string
  /** 'all' tenants, or the tenants of one `plan`. */
  scope: string
  plan: string
  includeHome: boolean
  includeDatabases: boolean
  exclude: string
  windowStart: string
  windowEnd: string
  keepLast: string
  keepDaily: string
  keepWeekly: string
  keepMonthly: string
  keepYearly: string
  enabled: boolean
  destinationIds: number[]
}

/** A new provider policy: every tenant, 01:00-05:00, GFS 7 daily / 4 weekly / 12 monthly. */
export function newProviderPolicyInput(): ProviderPolicyInput {
  return {
    name: 'Nightly backup',
    scope: 'all',
    plan: '',
    includeHome: true,
    includeDatabases: true,
    exclude: '',
    windowStart: '01:00',
    windowEnd: '05:00',
    keepLast: '0',
    keepDaily: '7',
    keepWeekly: '4',
    keepMonthly: '12',
    keepYearly: '0',
    enabled: true,
    destinationIds: [],
  }
}

/** A saved provider policy as its form shows it: what an edit (page or CLI) starts from. */
export function providerPolicyInput(p: ProviderPolicyWithLinks): ProviderPolicyInput {
  return {
    name: p.name,
    scope: p.scope,
    plan: p.plan ?? '',
    includeHome: p.includeHome,
    includeDatabases: p.includeDatabases,
    exclude: p.excludeGlobs.join('\n'),
    windowStart: p.windowStart,
    windowEnd: p.windowEnd,
    keepLast: String(p.keepLast),
    keepDaily: String(p.keepDaily),
    keepWeekly: String(p.keepWeekly),
    keepMonthly: String(p.keepMonthly),
    keepYearly: String(p.keepYearly),
    enabled: p.enabled,
    destinationIds: p.destinations.map((d) => d.id),
  }
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/

/**
 * Validates and saves a provider policy (`id` null creates), then brings every tenant's copy in
 * line with it. Throws InputError keyed by field. Returns the policy id and how many tenants it
 * now covers.
 */
export async function saveProviderPolicy(
  db: Db,
  id: number | null,
  input: ProviderPolicyInput,
): Promise<{ id: number; tenants: number }> {
  const errors: Record<string, string> = {}
  const name = input.name.trim()
  const nameProblem = labelProblem(name, 'Name')
  const clash = nameProblem ? undefined : await findProviderPolicyByName(db, name)
  if (nameProblem) errors.name = nameProblem
  else if (clash && clash.id !== id) errors.name = `A provider policy named “${name}” exists.`
  const scope = input.scope === 'plan' ? 'plan' : input.scope === 'all' ? 'all' : null
  const plan = input.plan.trim()
  if (!scope) errors.scope = 'Choose who this policy backs up.'
  else if (scope === 'plan') {
    const problem = plan ? planProblem(plan) : 'Name the plan whose tenants it backs up.'
    if (problem) errors.plan = problem
  }
  if (!HHMM.test(input.windowStart)) errors.windowStart = 'Use a time such as 01:00.'
  if (!HHMM.test(input.windowEnd)) errors.windowEnd = 'Use a time such as 05:00.'
  const exclude = globLines(input.exclude)
  if (exclude.some((l) => l.startsWith('/') || l.split('/').includes('..')))
    errors.exclude = 'Patterns are relative to each home folder, without “..”.'
  if (!input.includeHome && !input.includeDatabases)
    errors.what = 'Choose at least one thing to back up.'
  const known = new Set((await listProviderDestinations(db)).map((d) => d.id))
  const destinationIds = [...new Set(input.destinationIds)]
  if (!destinationIds.length) errors.destinations = 'Choose at least one destination.'
  else if (destinationIds.some((d) => !known.has(d)))
    errors.destinations = 'Choose destinations from the list.'
  const keep: Record<string, number> = {}
  for (const field of RETENTION) {
    const text = input[field].trim() || '0'
    if (!/^\d+$/.test(text) || Number(text) > 10_000)
      errors[field] = 'Use a whole number from 0 to 10000.'
    keep[field] = Number(text)
  }
  if (RETENTION.every((f) => !errors[f] && keep[f] === 0))
    errors.retention = 'Keep at least one backup: set one of the numbers above 0.'
  if (Object.keys(errors).length) throw new InputError(errors)
  const saved = await saveProviderPolicyRow(
    db,
    id,
    {
      name,
      scope: scope!,
      plan: scope === 'plan' ? plan : null,
      includeHome: input.includeHome,
      includeDatabases: input.includeDatabases,
      excludeGlobs: exclude,
      windowStart: input.windowStart,
      windowEnd: input.windowEnd,
      keepLast: keep.keepLast!,
      keepDaily: keep.keepDaily!,
      keepWeekly: keep.keepWeekly!,
      keepMonthly: keep.keepMonthly!,
      keepYearly: keep.keepYearly!,
      enabled: input.enabled,
    },
    destinationIds,
  )
  await syncProvider(db)
  return { id: saved, tenants: (await tenantsCovered(db)).get(saved) ?? 0 }
}

/** Removes a provider policy and every tenant's copy of it. */
export async function removeProviderPolicy(db: Db, id: number): Promise<void> {
  await deleteProviderPolicy(db, id)
}
