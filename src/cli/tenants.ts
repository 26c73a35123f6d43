import type { Command } from './command.ts'
import { UsageError, printTable, readStdin } from './io.ts'
import { createTenant, editTenant } from '../domain/tenants.ts'
import { removeTenant, retireTenantFiles } from '../domain/remove-tenant.ts'
import { assignDatabase } from '../domain/databases.ts'
import { findTenantByName, listTenantDatabases, listTenants } from '../db/tenants.ts'
import { NotFoundError } from '../errors.ts'
import type { Db } from '../db/client.ts'
import { auditCli } from './audit.ts'

export async function tenantByName(db: Db, name: string | undefined) {
  if (!name) throw new UsageError('give the tenant name')
  const tenant = await findTenantByName(db, name)
  if (!tenant) throw new NotFoundError(`Tenant “${name}”`)
  return tenant
}

export const tenantCommands: Record<string, Command> = {
  'tenant add': {
    usage:
      'tenant add <name> --home <dir> [--system-user <user>] [--timezone <tz>] [--group <plan>] [--node <node>] --password-stdin',
    options: {
      group: { type: 'string' },
      node: { type: 'string' },
      home: { type: 'string' },
      'system-user': { type: 'string' },
      timezone: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
    async run({ db }, [name], opts) {
      if (!name) throw new UsageError('give the tenant name')
      if (!opts.home) throw new UsageError('--home <dir> is required')
      if (!opts['password-stdin'])
        throw new UsageError('pass the password on stdin with --password-stdin')
      const tenant = await createTenant(db, {
        name,
        password: await readStdin(),
        homeDir: opts.home,
        systemUser: opts['system-user'] ?? '',
        timezone: opts.timezone ?? 'UTC',
        plan: opts.group ?? '',
        node: opts.node ?? '',
      })
      await auditCli(db, 'tenant.create', { tenantId: tenant.id, target: tenant.name })
      console.log(`Tenant "${tenant.name}" created (id ${tenant.id}).`)
    },
  },
  'tenant edit': {
    usage:
      'tenant edit <name> [--node <node>|--no-node] [--home <dir>] [--system-user <user>] [--timezone <tz>] [--group <plan>]',
    options: {
      node: { type: 'string' },
      'no-node': { type: 'boolean' },
      home: { type: 'string' },
      'system-user': { type: 'string' },
      timezone: { type: 'string' },
      group: { type: 'string' },
    },
    async run({ db }, [name], opts) {
      const tenant = await tenantByName(db, name)
      if (opts.node !== undefined && opts['no-node'])
        throw new UsageError('give either --node <node> or --no-node')
      // The field names the admin page records in the audit log.
      const before = {
        homeDir: tenant.homeDir,
        systemUser: tenant.systemUser ?? '',
        timezone: tenant.timezone,
        plan: tenant.plan ?? '',
        node: tenant.node ?? '',
      }
      const after = {
        homeDir: opts.home ?? before.homeDir,
        systemUser: opts['system-user'] ?? before.systemUser,
        timezone: opts.timezone ?? before.timezone,
        plan: opts.group ?? before.plan,
        node: opts['no-node'] ? '' : (opts.node ?? before.node),
      }
      await editTenant(db, tenant.id, { ...after, name: tenant.name, password: '' })
      const changed = (Object.keys(before) as (keyof typeof before)[]).filter(
        (k) => before[k] !== after[k],
      )
      await auditCli(db, 'tenant.update', {
        tenantId: tenant.id,
        target: tenant.name,
        details: { changed },
      })
      console.log(
        changed.length
          ? `Tenant "${tenant.name}" updated: ${changed.join(', ')}.`
          : `Tenant "${tenant.name}" unchanged.`,
      )
    },
  },
  'tenant list': {
    usage: 'tenant list [--json]',
    options: { json: { type: 'boolean' } },
    async run({ db }, _args, opts) {
      const rows = []
      for (const t of await listTenants(db)) {
        rows.push({
          id: t.id,
          name: t.name,
          home: t.homeDir,
          systemUser: t.systemUser,
          timezone: t.timezone,
          plan: t.plan,
          node: t.node,
          disabled: t.disabled,
          databases: (await listTenantDatabases(db, t.id)).map((d) => `${d.engine}:${d.name}`),
        })
      }
      if (opts.json) console.log(JSON.stringify(rows, null, 2))
      else
        printTable(rows, [
          'name',
          'home',
          'systemUser',
          'timezone',
          'plan',
          'node',
          'disabled',
          'databases',
        ])
    },
  },
  'tenant remove': {
    usage: 'tenant remove <name> --yes   (its backups stay on their destinations)',
    options: { yes: { type: 'boolean' } },
    async run({ db, config }, [name], opts) {
      const tenant = await tenantByName(db, name)
      if (!opts.yes) {
        throw new UsageError(
          `this removes "${tenant.name}" and its policies, destinations and history from the panel; add --yes to confirm`,
        )
      }
      const kept = await removeTenant(db, tenant)
      const localMoved = await retireTenantFiles(db, config, tenant.name)
      await auditCli(db, 'tenant.remove', {
        target: tenant.name,
        details: { destinationsKept: kept.length },
      })
      console.log(
        `Tenant "${tenant.name}" removed. Its home, system user and stored backups were left in place.`,
      )
      for (const d of kept) console.log(`  backups kept on ${d.type} destination "${d.name}"`)
      if (localMoved) console.log(`  its Local backups are now in ${localMoved}`)
    },
  },
  'db assign': {
    usage:
      'db assign <tenant> <database> --engine mariadb|postgresql [--host h] [--port n] [--user u] [--password-stdin]',
    options: {
      engine: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
    async run({ db, secretKey }, [tenantName, dbName], opts) {
      const tenant = await tenantByName(db, tenantName)
      if (!dbName) throw new UsageError('give the database name')
      if (opts.engine !== 'mariadb' && opts.engine !== 'postgresql') {
        throw new UsageError('--engine must be mariadb or postgresql')
      }
      const password = opts['password-stdin'] ? await readStdin() : ''
      await assignDatabase(db, secretKey, tenant.id, {
        engine: opts.engine,
        name: dbName,
        host: opts.host ?? '',
        port: opts.port ?? '',
        username: opts.user ?? '',
        password,
      })
      await auditCli(db, 'database.assign', {
        tenantId: tenant.id,
        target: dbName,
        details: { tenant: tenant.name, engine: opts.engine },
      })
      console.log(`Database ${opts.engine}:${dbName} assigned to "${tenant.name}".`)
    },
  },
}
