import type { Command } from './command.ts'
import { UsageError, printTable } from './io.ts'
import { tenantByName } from './tenants.ts'
import { describeDestination, saveDestination } from '../domain/destinations.ts'
import { listDestinations } from '../db/destinations.ts'
import type { Spec } from '../drivers/spec.ts'
import { auditCli } from './audit.ts'

export const destinationCommands: Record<string, Command> = {
  'destination add': {
    usage: 'destination add <tenant> --type <type> --name <name> [--set key=value]...',
    options: {
      type: { type: 'string' },
      name: { type: 'string' },
      set: { type: 'string', multiple: true },
    },
    run(deps, [tenantName], opts) {
      const tenant = tenantByName(deps.db, tenantName)
      if (!opts.type)
        throw new UsageError(`--type is required (one of: ${Object.keys(deps.drivers).join(', ')})`)
      if (!(opts.type in deps.drivers)) {
        throw new UsageError(
          `unknown type "${opts.type}" (one of: ${Object.keys(deps.drivers).join(', ')})`,
        )
      }
      const settings: Record<string, string> = {}
      for (const pair of (opts.set as string[] | undefined) ?? []) {
        const eq = pair.indexOf('=')
        if (eq < 1) throw new UsageError(`--set takes key=value, got "${pair}"`)
        settings[pair.slice(0, eq)] = pair.slice(eq + 1)
      }
      const spec: Spec = deps.drivers[opts.type as keyof typeof deps.drivers].settings
      const unknown = Object.keys(settings).filter((k) => !spec.some((f) => f.name === k))
      if (unknown.length) {
        throw new UsageError(
          `unknown setting "${unknown[0]}" (settings: ${spec.map((f) => f.name).join(', ')})`,
        )
      }
      for (const f of spec) {
        if (settings[f.name] === undefined && f.default !== undefined && f.type !== 'checkbox') {
          settings[f.name] = String(f.default)
        }
      }
      const dest = saveDestination(deps, tenant.id, opts.type, null, {
        name: opts.name ?? '',
        settings,
      })
      auditCli(deps.db, 'destination.create', {
        tenantId: tenant.id,
        target: dest.name,
        details: { type: opts.type },
      })
      console.log(`Destination "${dest.name}" added (id ${dest.id}).`)
    },
  },
  'destination list': {
    usage: 'destination list <tenant> [--json]',
    options: { json: { type: 'boolean' } },
    run(deps, [tenantName], opts) {
      const tenant = tenantByName(deps.db, tenantName)
      const rows = listDestinations(deps.db, tenant.id).map((d) => {
        const { values } = describeDestination(deps, tenant.id, d)
        return { id: d.id, name: d.name, type: d.type, settings: values }
      })
      if (opts.json) console.log(JSON.stringify(rows, null, 2))
      else
        printTable(
          rows.map((r) => ({ ...r, settings: JSON.stringify(r.settings) })),
          ['id', 'name', 'type', 'settings'],
        )
    },
  },
}
