import { intOption, type CliDeps } from './command.ts'
import { UsageError, printTable } from './io.ts'
import { findProviderDestinationByName } from '../db/provider-destinations.ts'
import { listProviderPolicies } from '../db/provider-policies.ts'
import { RETENTION } from '../domain/policies.ts'
import { newProviderPolicyInput, saveProviderPolicy } from '../domain/provider-policies.ts'
import { InputError } from '../errors.ts'
import { serverZone } from '../zoned.ts'
import { auditCli } from './audit.ts'

export const flag = (field: string) => field.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase())

/** `policy add --all-tenants | --group <plan>`: a backup the host runs for those tenants. */
export function addProviderPolicy(deps: CliDeps, opts: Record<string, any>): void {
  const { db } = deps
  if (opts['all-tenants'] && opts.group)
    throw new UsageError('give either --all-tenants or --group <plan>, not both')
  if (opts.schedule)
    throw new UsageError(
      'a policy for all tenants runs daily in a start window: use --window 01:00-05:00',
    )
  const window = (opts.window as string | undefined) ?? '01:00-05:00'
  const m = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(window)
  if (!m) throw new UsageError('--window takes HH:MM-HH:MM, e.g. 01:00-05:00')
  const destinationIds = ((opts.destination as string[]) ?? []).map((name) => {
    const dest = findProviderDestinationByName(db, name)
    if (!dest)
      throw new InputError({
        destination: `No provider destination named “${name}” (add one with destination add --admin).`,
      })
    return dest.id
  })
  const input = {
    ...newProviderPolicyInput(),
    name: opts.name ?? '',
    scope: opts.group ? 'plan' : 'all',
    plan: opts.group ?? '',
    includeHome: !opts['no-home'],
    includeDatabases: !opts['no-databases'],
    exclude: ((opts.exclude as string[]) ?? []).join('\n'),
    windowStart: m[1]!,
    windowEnd: m[2]!,
    enabled: !opts.disabled,
    destinationIds,
  }
  for (const f of RETENTION) input[f] = intOption(opts[flag(f)], flag(f)) ?? input[f]
  const saved = saveProviderPolicy(db, null, input)
  auditCli(db, 'provider-policy.create', { target: input.name.trim() })
  console.log(
    `Provider policy "${input.name.trim()}" created (id ${saved.id}): backs up ${saved.tenants} tenant${saved.tenants === 1 ? '' : 's'} daily between ${m[1]} and ${m[2]} (${serverZone()}).`,
  )
}

/** `policy list --admin`: the host's policies and how many tenants each covers. */
export function listProviderPoliciesCli(deps: CliDeps, json: boolean): void {
  const count = deps.db.$client.prepare(
    'select count(*) as n from policies where provider_policy_id = ?',
  )
  const rows = listProviderPolicies(deps.db).map((p) => ({
    id: p.id,
    name: p.name,
    enabled: p.enabled,
    tenants: p.scope === 'all' ? 'all' : `plan:${p.plan}`,
    covered: (count.get(p.id) as { n: number }).n,
    window: `${p.windowStart}-${p.windowEnd}`,
    timezone: serverZone(),
    destinations: p.destinations.map((d) => d.name),
    includeHome: p.includeHome,
    includeDatabases: p.includeDatabases,
    exclude: p.excludeGlobs,
    retention: {
      last: p.keepLast,
      daily: p.keepDaily,
      weekly: p.keepWeekly,
      monthly: p.keepMonthly,
      yearly: p.keepYearly,
    },
  }))
  if (json) console.log(JSON.stringify(rows, null, 2))
  else printTable(rows, ['id', 'name', 'enabled', 'tenants', 'covered', 'window', 'destinations'])
}
