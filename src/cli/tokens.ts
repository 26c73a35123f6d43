import type { Command } from './command.ts'
import { tenantByName } from './tenants.ts'
import { allowBackupTokenNow, backupTokenState } from '../domain/backup-token.ts'

export const tokenCommands: Record<string, Command> = {
  'token allow-now': {
    usage: 'token allow-now <tenant>',
    options: {},
    async run({ db }, [name]) {
      const tenant = await tenantByName(db, name)
      const { already } = await allowBackupTokenNow(db, tenant, { actor: 'cli' })
      console.log(
        already
          ? `The backup token of "${tenant.name}" was already valid.`
          : `The backup token of "${tenant.name}" is valid now.`,
      )
    },
  },
  'token status': {
    usage: 'token status <tenant> [--json]',
    options: { json: { type: 'boolean' } },
    async run({ db }, [name], opts) {
      const tenant = await tenantByName(db, name)
      const state = await backupTokenState(db, tenant.id)
      if (opts.json) console.log(JSON.stringify({ tenant: tenant.name, ...state }, null, 2))
      else if (state.status === 'none') console.log(`"${tenant.name}" has no backup token.`)
      else if (state.status === 'active')
        console.log(
          `"${tenant.name}" has an active backup token (created ${state.createdAt.toISOString()}).`,
        )
      else
        console.log(
          `"${tenant.name}" has a backup token valid from ${state.activeFrom.toISOString()}.`,
        )
    },
  },
}
