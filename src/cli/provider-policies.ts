import { intOption, type CliDeps } from './command.ts'
import { UsageError, printTable } from './io.ts'
import {
  findProviderPolicyByName,
  getProviderPolicy,
  listProviderPolicies,
  type ProviderPolicyWithLinks,
} from '../db/provider-policies.ts'
import { tenantsCovered } from '../db/provider-coverage.ts'
import { RETENTION } from '../domain/policies.ts'
import {
  newProviderPolicyInput,
  providerPolicyInput,
  removeProviderPolicy,
  saveProviderPolicy,
  type ProviderPolicyInput,
} from '../domain/provider-policies.ts'
import { NotFoundError } from '../errors.ts'
import { serverZone } from '../zoned.ts'
import { auditCli } from './audit.ts'
import { flag, parseWindow, providerDestinationIds, toggle } from './policy-args.ts'

/** `policy add --all-tenants | --group <plan>`: a backup the host runs for those tenants. */
export async function addProviderPolicy(deps: CliDeps, opts: Record<string, any>): Promise<void> {
  const { db } = deps
  if (opts['all-tenants'] && opts.group)
    throw new UsageError('give either --all-tenants or --group <plan>, not both')
  if (opts.schedule)
    throw new UsageError(
      'a policy for all tenants runs daily in a start window: use --window 01:00-05:00',
    )
  const [windowStart, windowEnd] = parseWindow(opts.window ?? '01:00-05:00')
  const destinationIds = await providerDestinationIds(db, opts.destination ?? [])
  const input = {
    ...newProviderPolicyInput(),
    name: opts.name ?? '',
    scope: opts.group ? 'plan' : 'all',
    plan: opts.group ?? '',
    includeHome: !opts['no-home'],
    includeDatabases: !opts['no-databases'],
    exclude: ((opts.exclude as string[]) ?? []).join('\n'),
    windowStart,
    windowEnd,
    enabled: !opts.disabled,
    destinationIds,
  }
  for (const f of RETENTION) input[f] = intOption(opts[flag(f)], flag(f)) ?? input[f]
  const saved = await saveProviderPolicy(db, null, input)
  await auditCli(db, 'provider-policy.create', { target: input.name.trim() })
  console.log(
    `Provider policy "${input.name.trim()}" created (id ${saved.id}): backs up ${saved.tenants} tenant${saved.tenants === 1 ? '' : 's'} daily between ${windowStart} and ${windowEnd} (${serverZone()}).`,
  )
}

/** `policy list --admin`: the host's policies and how many tenants each covers. */
export async function listProviderPoliciesCli(deps: CliDeps, json: boolean): Promise<void> {
  const covered = await tenantsCovered(deps.db)
  const rows = (await listProviderPolicies(deps.db)).map((p) => ({
    id: p.id,
    name: p.name,
    enabled: p.enabled,
    tenants: p.scope === 'all' ? 'all' : `plan:${p.plan}`,
    covered: covered.get(p.id) ?? 0,
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

async function providerPolicyByName(deps: CliDeps, name: string): Promise<ProviderPolicyWithLinks> {
  const found = await findProviderPolicyByName(deps.db, name)
  if (!found) throw new NotFoundError(`Provider policy “${name}”`)
  return await getProviderPolicy(deps.db, found.id)
}

/**
 * `policy edit --admin <name>`: changes only the options given (`--all-tenants` or `--group`
 * moves it to other tenants), through saveProviderPolicy, then every tenant's copy follows.
 */
export async function editProviderPolicy(
  deps: CliDeps,
  name: string,
  opts: Record<string, any>,
): Promise<void> {
  for (const o of ['schedule', 'timezone', 'include', 'database'])
    if (opts[o] !== undefined)
      throw new UsageError(
        `--${o} is for a tenant's own policy; the host's run daily in a --window, for each tenant's home and databases`,
      )
  if (opts['all-tenants'] && opts.group !== undefined)
    throw new UsageError('give either --all-tenants or --group <plan>, not both')
  const policy = await providerPolicyByName(deps, name)
  const input = providerPolicyInput(policy)
  const rename = opts.rename ?? opts.name
  if (rename !== undefined) input.name = rename
  if (opts['all-tenants']) Object.assign(input, { scope: 'all', plan: '' })
  if (opts.group !== undefined) Object.assign(input, { scope: 'plan', plan: opts.group })
  if (opts.window !== undefined) [input.windowStart, input.windowEnd] = parseWindow(opts.window)
  if (opts.exclude) input.exclude = (opts.exclude as string[]).join('\n')
  if (opts.destination)
    input.destinationIds = await providerDestinationIds(deps.db, opts.destination)
  input.includeHome = toggle(opts, 'home', 'no-home') ?? input.includeHome
  input.includeDatabases = toggle(opts, 'databases', 'no-databases') ?? input.includeDatabases
  input.enabled = toggle(opts, 'enabled', 'disabled') ?? input.enabled
  for (const f of RETENTION) input[f] = intOption(opts[flag(f)], flag(f)) ?? input[f]
  const saved = await saveProviderPolicy(deps.db, policy.id, input)
  const newName = input.name.trim()
  await auditCli(deps.db, 'provider-policy.update', {
    target: newName,
    details: {
      tenants: saved.tenants,
      ...(newName === policy.name ? {} : { renamedFrom: policy.name }),
    },
  })
  console.log(
    `Provider policy "${newName}" saved: backs up ${saved.tenants} tenant${saved.tenants === 1 ? '' : 's'} daily between ${input.windowStart} and ${input.windowEnd} (${serverZone()}).`,
  )
}

/** `policy remove --admin <name>`: the policy and every tenant's copy; their backups stay. */
export async function removeProviderPolicyCli(deps: CliDeps, name: string): Promise<void> {
  const policy = await providerPolicyByName(deps, name)
  const tenants = (await tenantsCovered(deps.db)).get(policy.id) ?? 0
  await removeProviderPolicy(deps.db, policy.id)
  await auditCli(deps.db, 'provider-policy.delete', { target: policy.name, details: { tenants } })
  console.log(
    `Provider policy "${policy.name}" removed, with its copies at ${tenants} tenant${tenants === 1 ? '' : 's'}. ` +
      'Backups it made are not deleted.',
  )
}
