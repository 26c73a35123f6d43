import type { CliDeps, Command } from './command.ts'
import { UsageError } from './io.ts'
import { ownerAndName } from './owner.ts'
import { auditCli } from './audit.ts'
import { hasSettingsArgs, settingsArgs, settingsOptions, storedText } from './settings-args.ts'
import { mergeDestination, saveDestination } from '../domain/destinations.ts'
import { testConnection, testSettings, type TestResult } from '../domain/test-connection.ts'
import {
  HOST_CONTEXT_NAME,
  mergeProviderDestination,
  saveProviderDestination,
} from '../domain/provider-destinations.ts'
import { deleteDestination, findDestinationByName, getOwnDestination } from '../db/destinations.ts'
import {
  deleteProviderDestination,
  findProviderDestinationByName,
  readProviderSecrets,
  tenantCopies,
} from '../db/provider-destinations.ts'
import { localRootOf } from '../db/settings.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import type { Spec } from '../drivers/spec.ts'

const OWNER = '(<tenant> | --admin) <name>'

function specOf(deps: CliDeps, type: string): Spec {
  const driver = deps.drivers[type as keyof typeof deps.drivers]
  if (!driver) throw new NotFoundError(`The destination type “${type}”`)
  return driver.settings
}

async function tenantDestination(deps: CliDeps, tenantId: number, name: string) {
  const dest = await findDestinationByName(deps.db, tenantId, name)
  if (!dest) throw new NotFoundError(`Destination “${name}”`)
  return dest
}

async function providerDestination(deps: CliDeps, name: string) {
  const dest = await findProviderDestinationByName(deps.db, name)
  if (!dest) throw new NotFoundError(`Provider destination “${name}”`)
  return dest
}

/**
 * Prints a Test connection result: the plain result line and each value pinned on first contact
 * (an SSH host key's fingerprint), or `--json`. A failed test throws its reason (exit 1).
 */
function report(result: TestResult, spec: Spec, json: boolean): void {
  if (json) console.log(JSON.stringify(result, null, 2))
  if (!result.ok) {
    if (result.errors) throw new InputError(result.errors)
    throw new Error(result.message)
  }
  if (json) return
  console.log(result.message)
  for (const [key, value] of Object.entries(result.pinned)) {
    const label = spec.find((f) => f.name === key)?.label ?? key
    console.log(`Pinned ${label}: ${String(value)} (checked on every connection from now on).`)
  }
}

export const destinationManageCommands: Record<string, Command> = {
  'destination test': {
    usage: `destination test ${OWNER} [--json]`,
    options: { admin: { type: 'boolean' }, json: { type: 'boolean' } },
    async run(deps, args, opts) {
      const { tenant, name } = await ownerAndName(deps.db, args, opts, 'destination')
      const localRoot = await localRootOf(deps.db, deps.config)
      if (!tenant) {
        const dest = await providerDestination(deps, name)
        const spec = specOf(deps, dest.type)
        const result = await testSettings(
          { ...deps, localRoot },
          HOST_CONTEXT_NAME,
          dest.type,
          storedText(spec, dest.settings),
          readProviderSecrets(deps.secretKey, dest),
        )
        await auditCli(deps.db, 'provider-destination.test', {
          target: dest.name,
          details: { type: dest.type, ok: result.ok },
        })
        // Pinned on first contact (an SSH host key): stored now, checked on every connection after.
        if (result.ok && Object.keys(result.pinned).length)
          await mergeProviderDestination(deps, dest.id, { settings: result.pinned })
        return report(result, spec, !!opts.json)
      }
      const dest = await tenantDestination(deps, tenant.id, name)
      if (dest.providerDestinationId !== null)
        throw new ConflictError(
          `“${dest.name}” is ${tenant.name}’s copy of the host’s destination: test the host’s own with destination test --admin.`,
        )
      const spec = specOf(deps, dest.type)
      const result = await testConnection(
        { ...deps, localRoot },
        tenant,
        dest.type,
        storedText(spec, dest.settings),
        dest,
      )
      await auditCli(deps.db, 'destination.test', {
        tenantId: tenant.id,
        target: dest.name,
        details: { type: dest.type, ok: result.ok },
      })
      if (result.ok && Object.keys(result.pinned).length)
        await mergeDestination(deps, tenant.id, dest.id, { settings: result.pinned })
      report(result, spec, !!opts.json)
    },
  },
  'destination edit': {
    usage:
      `destination edit ${OWNER} [--rename <new name>] [--set key=value]... ` +
      '[--set-secret-stdin key] [--set-secret-file key=PATH]...',
    options: { admin: { type: 'boolean' }, rename: { type: 'string' }, ...settingsOptions },
    async run(deps, args, opts) {
      const { tenant, name } = await ownerAndName(deps.db, args, opts, 'destination')
      if (opts.rename === undefined && !hasSettingsArgs(opts))
        throw new UsageError('nothing to change: give --rename, --set or a --set-secret-… option')
      if (!tenant) {
        const dest = await providerDestination(deps, name)
        const spec = specOf(deps, dest.type)
        const given = await settingsArgs(spec, opts)
        const saved = await saveProviderDestination(deps, dest.type, dest.id, {
          name: opts.rename ?? dest.name,
          settings: { ...storedText(spec, dest.settings), ...given },
        })
        await auditCli(deps.db, 'provider-destination.update', {
          target: saved.name,
          details: { type: dest.type, ...changes(dest.name, saved.name, given) },
        })
        console.log(`Provider destination "${saved.name}" saved.`)
        return
      }
      // A copy of the host's destination: the domain's refusal, before anything is read.
      const dest = await getOwnDestination(
        deps.db,
        tenant.id,
        (await tenantDestination(deps, tenant.id, name)).id,
      )
      const spec = specOf(deps, dest.type)
      const given = await settingsArgs(spec, opts)
      const saved = await saveDestination(deps, tenant.id, dest.type, dest.id, {
        name: opts.rename ?? dest.name,
        settings: { ...storedText(spec, dest.settings), ...given },
      })
      await auditCli(deps.db, 'destination.update', {
        tenantId: tenant.id,
        target: saved.name,
        details: { type: dest.type, ...changes(dest.name, saved.name, given) },
      })
      console.log(`Destination "${saved.name}" saved.`)
    },
  },
  'destination remove': {
    usage: `destination remove ${OWNER}`,
    options: { admin: { type: 'boolean' } },
    async run(deps, args, opts) {
      const { tenant, name } = await ownerAndName(deps.db, args, opts, 'destination')
      if (!tenant) {
        const dest = await providerDestination(deps, name)
        const copies = await tenantCopies(deps.db, dest.id)
        await deleteProviderDestination(deps.db, dest.id)
        await auditCli(deps.db, 'provider-destination.delete', {
          target: dest.name,
          details: { type: dest.type, tenants: copies },
        })
        console.log(
          `Provider destination "${dest.name}" removed` +
            (copies ? `, with its copies at ${copies} tenant${copies === 1 ? '' : 's'}` : '') +
            '. Backups already stored there are not deleted.',
        )
        return
      }
      const dest = await tenantDestination(deps, tenant.id, name)
      await deleteDestination(deps.db, tenant.id, dest.id)
      await auditCli(deps.db, 'destination.delete', {
        tenantId: tenant.id,
        target: dest.name,
        details: { type: dest.type },
      })
      console.log(
        `Destination "${dest.name}" removed. Backups already stored there are not deleted.`,
      )
    },
  },
}

/** What an edit changed, for the audit log: the old name and the setting keys, never values. */
function changes(before: string, after: string, given: Record<string, string>) {
  return {
    ...(before === after ? {} : { renamedFrom: before }),
    settings: Object.keys(given),
  }
}
