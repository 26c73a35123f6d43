import { intOption, type Command } from './command.ts'
import { UsageError, printTable } from './io.ts'
import { tenantByName } from './tenants.ts'
import { listPolicies } from '../db/policies.ts'
import { newPolicyInput, savePolicy, RETENTION } from '../domain/policies.ts'
import { describeSchedule, nextRuns } from '../schedule.ts'
import { auditCli } from './audit.ts'
import { addProviderPolicy, listProviderPoliciesCli } from './provider-policies.ts'
import { flag, policyOptions, tenantDatabaseIds, tenantDestinationIds } from './policy-args.ts'
import { policyManageCommands } from './policy-manage.ts'

export const policyCommands: Record<string, Command> = {
  'policy add': {
    usage:
      'policy add <tenant> --name <n> --destination <name>... --schedule <cron> [--timezone <tz>] ' +
      '[--include <glob>]... [--exclude <glob>]... [--database <name>]... [--no-home] ' +
      '[--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--disabled]\n' +
      '  policy add (--all-tenants | --group <plan>) --name <n> --destination <provider destination>... ' +
      '[--window 01:00-05:00] [--exclude <glob>]... [--no-home] [--no-databases] [--keep-… N] [--disabled]',
    options: policyOptions,
    async run(deps, [tenantName], opts) {
      const { db } = deps
      if (opts['all-tenants'] || opts.group !== undefined) {
        if (tenantName) throw new UsageError('give either a tenant or --all-tenants / --group')
        return addProviderPolicy(deps, opts)
      }
      if (opts.window || opts['no-databases'])
        throw new UsageError('--window and --no-databases are for --all-tenants / --group policies')
      const tenant = await tenantByName(db, tenantName)
      if (!opts.schedule) throw new UsageError('--schedule <cron> is required, e.g. "0 3 * * *"')
      const destinationIds = await tenantDestinationIds(db, tenant.id, opts.destination ?? [])
      const databaseIds = await tenantDatabaseIds(db, tenant, opts.database ?? [])
      const input = {
        ...newPolicyInput(opts.timezone ?? tenant.timezone),
        name: opts.name ?? '',
        include: ((opts.include as string[]) ?? []).join('\n'),
        exclude: ((opts.exclude as string[]) ?? []).join('\n'),
        includeHome: !opts['no-home'],
        databaseIds,
        destinationIds,
        preset: 'custom',
        cron: opts.schedule,
        enabled: !opts.disabled,
      }
      for (const f of RETENTION) input[f] = intOption(opts[flag(f)], flag(f)) ?? input[f]
      const id = await savePolicy(db, tenant.id, null, input)
      await auditCli(db, 'policy.create', { tenantId: tenant.id, target: input.name.trim() })
      console.log(`Policy "${input.name}" created (id ${id}).`)
    },
  },
  'policy list': {
    usage: 'policy list (<tenant> | --admin) [--json]',
    options: { json: { type: 'boolean' }, admin: { type: 'boolean' } },
    async run(deps, [tenantName], opts) {
      if (opts.admin) return listProviderPoliciesCli(deps, !!opts.json)
      const { db } = deps
      const tenant = await tenantByName(db, tenantName)
      const rows = (await listPolicies(db, tenant.id)).map((p) => {
        const next = nextRuns(p.schedule, p.timezone, 1)
        return {
          id: p.id,
          name: p.name,
          providedByHost: p.providerPolicyId !== null,
          enabled: p.enabled,
          schedule: p.schedule,
          description: describeSchedule(p.schedule),
          timezone: p.timezone,
          nextRun: p.enabled && next.ok ? next.next[0]!.toISOString() : null,
          destinations: p.destinations.map((d) => d.name),
          includeHome: p.includeHome,
          include: p.includeGlobs,
          exclude: p.excludeGlobs,
          databases: p.databases.map((d) => d.name),
          includePanelSettings: p.includePanelSettings,
          retention: {
            last: p.keepLast,
            daily: p.keepDaily,
            weekly: p.keepWeekly,
            monthly: p.keepMonthly,
            yearly: p.keepYearly,
          },
        }
      })
      if (opts.json) console.log(JSON.stringify(rows, null, 2))
      else
        printTable(rows, [
          'id',
          'name',
          'enabled',
          'schedule',
          'description',
          'timezone',
          'nextRun',
          'destinations',
        ])
    },
  },
  ...policyManageCommands,
}
