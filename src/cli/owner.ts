import type { Db } from '../db/client.ts'
import { UsageError } from './io.ts'
import { tenantByName } from './tenants.ts'

/**
 * Whose object a `(<tenant> | --admin) <name>` verb acts on: a tenant's (`tenant` set), or with
 * `--admin` the host's own (`tenant` null); `what` names the object in the usage error.
 */
export async function ownerAndName(
  db: Db,
  args: string[],
  opts: Record<string, any>,
  what: string,
) {
  if (opts.admin) {
    if (args.length !== 1) throw new UsageError(`with --admin, give only the ${what} name`)
    return { tenant: null, name: args[0]! }
  }
  if (args.length !== 2)
    throw new UsageError(`give the tenant and the ${what} name (or --admin and the name)`)
  return { tenant: await tenantByName(db, args[0]), name: args[1]! }
}
