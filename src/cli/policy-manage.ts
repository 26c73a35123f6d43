import { intOption, type CliDeps, type Command } from './command.ts'
import { UsageError } from './io.ts'
import { ownerAndName } from './owner.ts'
import { auditCli } from './audit.ts'
import {
  flag,
  policyOptions,
  tenantDatabaseIds,
  tenantDestinationIds,
  toggle,
} from './policy-args.ts'
import { editProviderPolicy, removeProviderPolicyCli } from './provider-policies.ts'
import {
  deletePolicy,
  findPolicyByName,
  getOwnPolicy,
  type PolicyWithLinks,
} from '../db/policies.ts'
import type { Tenant } from '../db/schema.ts'
import { RETENTION, savePolicy, type PolicyInput } from '../domain/policies.ts'
import { NotFoundError } from '../errors.ts'

const OWNER = '(<tenant> | --admin) <name>'

async function policyId(deps: CliDeps, tenantId: number, name: string): Promise<number> {
  const found = await findPolicyByName(deps.db, tenantId, name)
  if (!found) throw new NotFoundError(`Policy “${name}”`)
  return found.id
}

/** A tenant's policy as its form would show it: what `policy edit` starts from. */
function inputOf(p: PolicyWithLinks): PolicyInput {
  return {
    name: p.name,
    includeHome: p.includeHome,
    include: p.includeGlobs.join('\n'),
    exclude: p.excludeGlobs.join('\n'),
    includePanelSettings: p.includePanelSettings,
    databaseIds: p.databases.map((d) => d.id),
    destinationIds: p.destinations.map((d) => d.id),
    preset: 'custom',
    cron: p.schedule,
    timezone: p.timezone,
    keepLast: String(p.keepLast),
    keepDaily: String(p.keepDaily),
    keepWeekly: String(p.keepWeekly),
    keepMonthly: String(p.keepMonthly),
    keepYearly: String(p.keepYearly),
    enabled: p.enabled,
  }
}

/**
 * `policy edit <tenant> <name>`: only the options given change; a list option given replaces
 * the list (`--include ''` empties it, `--no-databases` drops every database). Saved through
 * savePolicy, which refuses a copy of the host's policy (HostOwnedError).
 */
async function editTenantPolicy(
  deps: CliDeps,
  tenant: Tenant,
  name: string,
  opts: Record<string, any>,
) {
  for (const o of ['window', 'all-tenants', 'group', 'databases'])
    if (opts[o] !== undefined)
      throw new UsageError(`--${o} is for the host's policies (policy edit --admin)`)
  if (opts.database && opts['no-databases'])
    throw new UsageError('give either --database or --no-databases, not both')
  // A copy of the host's policy is refused (the domain's words) before any option is looked at.
  const policy = await getOwnPolicy(deps.db, tenant.id, await policyId(deps, tenant.id, name))
  const input = inputOf(policy)
  const rename = opts.rename ?? opts.name
  if (rename !== undefined) input.name = rename
  if (opts.destination)
    input.destinationIds = await tenantDestinationIds(deps.db, tenant.id, opts.destination)
  if (opts.schedule !== undefined) input.cron = opts.schedule
  if (opts.timezone !== undefined) input.timezone = opts.timezone
  if (opts.include) input.include = (opts.include as string[]).join('\n')
  if (opts.exclude) input.exclude = (opts.exclude as string[]).join('\n')
  if (opts.database) input.databaseIds = await tenantDatabaseIds(deps.db, tenant, opts.database)
  if (opts['no-databases']) input.databaseIds = []
  input.includeHome = toggle(opts, 'home', 'no-home') ?? input.includeHome
  input.enabled = toggle(opts, 'enabled', 'disabled') ?? input.enabled
  for (const f of RETENTION) input[f] = intOption(opts[flag(f)], flag(f)) ?? input[f]
  await savePolicy(deps.db, tenant.id, policy.id, input)
  const newName = input.name.trim()
  await auditCli(deps.db, 'policy.update', {
    tenantId: tenant.id,
    target: newName,
    details: newName === policy.name ? {} : { renamedFrom: policy.name },
  })
  console.log(`Policy "${newName}" saved.`)
}

export const policyManageCommands: Record<string, Command> = {
  'policy edit': {
    usage:
      `policy edit ${OWNER} [--rename <new name>] [the options of policy add: only those given change] ` +
      '[--home] [--enabled] [--no-databases] [--databases (--admin)]',
    options: {
      ...policyOptions,
      admin: { type: 'boolean' },
      rename: { type: 'string' },
      home: { type: 'boolean' },
      enabled: { type: 'boolean' },
      databases: { type: 'boolean' },
    },
    async run(deps, args, opts) {
      const { tenant, name } = await ownerAndName(deps.db, args, opts, 'policy')
      if (opts.rename !== undefined && opts.name !== undefined && opts.rename !== opts.name)
        throw new UsageError('give the new name once, with --rename')
      const known = new Set(['admin'])
      if (!Object.keys(opts).some((k) => !known.has(k)))
        throw new UsageError('nothing to change: give the options to change, e.g. --keep-daily 14')
      if (!tenant) return editProviderPolicy(deps, name, opts)
      await editTenantPolicy(deps, tenant, name, opts)
    },
  },
  'policy remove': {
    usage: `policy remove ${OWNER}`,
    options: { admin: { type: 'boolean' } },
    async run(deps, args, opts) {
      const { tenant, name } = await ownerAndName(deps.db, args, opts, 'policy')
      if (!tenant) return removeProviderPolicyCli(deps, name)
      const id = await policyId(deps, tenant.id, name)
      await deletePolicy(deps.db, tenant.id, id)
      await auditCli(deps.db, 'policy.delete', { tenantId: tenant.id, target: name })
      console.log(`Policy "${name}" removed. Backups it made are not deleted.`)
    },
  },
}
