import { tenantDatabases, type TenantDatabase } from '../db/schema.ts'
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { insertTenantDatabase, listTenantDatabases, sealDbPassword } from '../db/tenants.ts'
import { InputError } from '../errors.ts'
import { databaseNameProblem } from '../names.ts'
import { syncProvider } from './provider-sync.ts'
import { databaseOwner } from './tenant-checks.ts'

export type AssignInput = {
  engine: 'mariadb' | 'postgresql'
  name: string
  host: string
  port: string
  username: string
  password: string
}

/** Assigns a database to a tenant, with optional connection details for dumps. */
export async function assignDatabase(
  db: Db,
  key: Buffer,
  tenantId: number,
  input: AssignInput,
): Promise<TenantDatabase> {
  const name = input.name.trim()
  const problem = databaseNameProblem(name)
  if (problem) throw new InputError({ name: problem })
  if (
    (await listTenantDatabases(db, tenantId)).some(
      (d) => d.engine === input.engine && d.name === name,
    )
  ) {
    throw new InputError({ name: `“${name}” is already assigned.` })
  }
  const host = input.host.trim()
  if (host && !/^[A-Za-z0-9.:_-]{1,253}$/.test(host))
    throw new InputError({ host: 'Enter a host name or address.' })
  const port = input.port.trim() ? Number(input.port) : null
  if (port !== null && (!Number.isInteger(port) || port < 1 || port > 65535))
    throw new InputError({ port: 'Port must be 1-65535.' })
  const username = input.username.trim()
  if (username && !/^[A-Za-z0-9_.@$-]{1,80}$/.test(username))
    throw new InputError({ username: 'Enter a valid database user name.' })
  const owner = await databaseOwner(db, tenantId, input.engine, name, host || null)
  if (owner) throw new InputError({ name: `“${name}” is already assigned to tenant “${owner}”.` })
  const row = await insertTenantDatabase(db, tenantId, input.engine, name)
  const saved = await updateConnection(db, key, row, {
    host: host || null,
    port,
    username: username || null,
    password: input.password || null,
  })
  await syncProvider(db, { tenantIds: [tenantId] }) // provider policies back up every assigned database
  return saved
}

async function updateConnection(
  db: Db,
  key: Buffer,
  row: TenantDatabase,
  conn: {
    host: string | null
    port: number | null
    username: string | null
    password: string | null
  },
): Promise<TenantDatabase> {
  const passwordSealed = conn.password ? sealDbPassword(key, row.tenantId, conn.password) : null
  return (
    await db
      .update(tenantDatabases)
      .set({ host: conn.host, port: conn.port, username: conn.username, passwordSealed })
      .where(eq(tenantDatabases.id, row.id))
      .returning()
  )[0]
}
