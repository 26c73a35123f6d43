import type { CliDeps, Command } from './command.ts'
import { UsageError, printTable } from './io.ts'
import { settingsArgs, settingsOptions } from './settings-args.ts'
import { destinationManageCommands } from './destination-manage.ts'
import { tenantByName } from './tenants.ts'
import { describeDestination, saveDestination } from '../domain/destinations.ts'
import { listDestinations } from '../db/destinations.ts'
import type { Spec } from '../drivers/spec.ts'
import { auditCli } from './audit.ts'
import {
  describeProviderDestination,
  saveProviderDestination,
} from '../domain/provider-destinations.ts'
import {
  listProviderDestinations,
  providerPoliciesUsing,
  tenantCopies,
} from '../db/provider-destinations.ts'

/**
 * The settings of `destination add` (see settingsArgs: `--set key=value`, secrets by
 * `--set-secret-stdin key` or `--set-secret-file key=PATH`). Unset fields take the spec's default.
 */
async function settingsOf(deps: CliDeps, opts: Record<string, any>) {
  const types = Object.keys(deps.drivers).join(', ')
  if (!opts.type) throw new UsageError(`--type is required (one of: ${types})`)
  if (!(opts.type in deps.drivers))
    throw new UsageError(`unknown type "${opts.type}" (one of: ${types})`)
  const spec: Spec = deps.drivers[opts.type as keyof typeof deps.drivers].settings
  const settings = await settingsArgs(spec, opts)
  for (const f of spec) {
    if (settings[f.name] === undefined && f.default !== undefined && f.type !== 'checkbox') {
      settings[f.name] = String(f.default)
    }
  }
  return { type: opts.type as string, settings }
}

export const destinationCommands: Record<string, Command> = {
  'destination add': {
    usage:
      'destination add (<tenant> | --admin) --type <type> --name <name> [--set key=value]... ' +
      '[--set-secret-stdin key] [--set-secret-file key=PATH]...',
    options: {
      admin: { type: 'boolean' },
      type: { type: 'string' },
      name: { type: 'string' },
      ...settingsOptions,
    },
    async run(deps, [tenantName], opts) {
      if (opts.admin && tenantName)
        throw new UsageError('give either a tenant or --admin (the host’s own destination)')
      const tenant = opts.admin ? null : await tenantByName(deps.db, tenantName)
      const { type, settings } = await settingsOf(deps, opts)
      const input = { name: opts.name ?? '', settings }
      if (!tenant) {
        const dest = await saveProviderDestination(deps, type, null, input)
        await auditCli(deps.db, 'provider-destination.create', {
          target: dest.name,
          details: { type },
        })
        console.log(`Provider destination "${dest.name}" added (id ${dest.id}).`)
        return
      }
      const dest = await saveDestination(deps, tenant.id, type, null, input)
      await auditCli(deps.db, 'destination.create', {
        tenantId: tenant.id,
        target: dest.name,
        details: { type },
      })
      console.log(`Destination "${dest.name}" added (id ${dest.id}).`)
    },
  },
  'destination list': {
    usage: 'destination list (<tenant> | --admin) [--json]',
    options: { json: { type: 'boolean' }, admin: { type: 'boolean' } },
    async run(deps, [tenantName], opts) {
      if (opts.admin) {
        const rows = []
        for (const d of await listProviderDestinations(deps.db)) {
          rows.push({
            id: d.id,
            name: d.name,
            type: d.type,
            settings: describeProviderDestination(deps, d).values,
            policies: await providerPoliciesUsing(deps.db, d.id),
            tenants: await tenantCopies(deps.db, d.id),
          })
        }
        if (opts.json) console.log(JSON.stringify(rows, null, 2))
        else
          printTable(
            rows.map((r) => ({ ...r, settings: JSON.stringify(r.settings) })),
            ['id', 'name', 'type', 'policies', 'tenants', 'settings'],
          )
        return
      }
      const tenant = await tenantByName(deps.db, tenantName)
      const rows = (await listDestinations(deps.db, tenant.id)).map((d) => {
        const host = d.providerDestinationId !== null
        const values = host ? {} : describeDestination(deps, tenant.id, d).values
        return { id: d.id, name: d.name, type: d.type, providedByHost: host, settings: values }
      })
      if (opts.json) console.log(JSON.stringify(rows, null, 2))
      else
        printTable(
          rows.map((r) => ({ ...r, settings: JSON.stringify(r.settings) })),
          ['id', 'name', 'type', 'providedByHost', 'settings'],
        )
    },
  },
  ...destinationManageCommands,
}
