import { lstatSync } from 'node:fs'
import { and, eq, ne } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { tenantDatabases, tenants, type Tenant } from '../db/schema.ts'
import { lookupUser } from '../engine/host/isolation.ts'

/**
 * What another tenant already has that this one asks for: two tenants must never share a home
 * or a system user (each would back up, restore into and read the other's files). Keyed by the
 * form field; `id` is the tenant being edited (null when adding).
 */
export async function sharedWithOthers(
  db: Db,
  id: number | null,
  homeDir: string,
  systemUser: string | null,
): Promise<Record<string, string>> {
  const errors: Record<string, string> = {}
  const others = async (
    column: typeof tenants.homeDir | typeof tenants.systemUser,
    value: string,
  ) =>
    (
      await db
        .select({ name: tenants.name })
        .from(tenants)
        .where(and(eq(column, value), id === null ? undefined : ne(tenants.id, id)))
    )[0]
  const home = await others(tenants.homeDir, homeDir.replace(/\/+$/, ''))
  if (home) errors.homeDir = `Tenant “${home.name}” already has this home folder.`
  const user = systemUser ? await others(tenants.systemUser, systemUser) : undefined
  if (user) errors.systemUser = `Tenant “${user.name}” already runs as this system user.`
  return errors
}

/** The tenant that already has this database (same engine, name and server), if another one does. */
export async function databaseOwner(
  db: Db,
  tenantId: number,
  engine: string,
  name: string,
  host: string | null,
): Promise<string | undefined> {
  const rows = await db
    .select({ tenant: tenants.name, host: tenantDatabases.host })
    .from(tenantDatabases)
    .innerJoin(tenants, eq(tenants.id, tenantDatabases.tenantId))
    .where(
      and(
        eq(tenantDatabases.engine, engine as 'mariadb'),
        eq(tenantDatabases.name, name),
        ne(tenantDatabases.tenantId, tenantId),
      ),
    )
  const local = (h: string | null) => !h || h === 'localhost' || h === '127.0.0.1' || h === '::1'
  return rows.find((r) => (local(r.host) && local(host)) || r.host === host)?.tenant
}

/**
 * What will stop this tenant's backups on this server, in words the admin can act on: a home
 * that does not exist or is not a folder, a system user the server does not know. Saved anyway
 * (the admin may create them next), shown on the tenant's page until fixed.
 */
export function tenantWarnings(tenant: Pick<Tenant, 'homeDir' | 'systemUser'>): string[] {
  const out: string[] = []
  let isDir = false
  try {
    const st = lstatSync(tenant.homeDir)
    isDir = st.isDirectory()
    if (!isDir)
      out.push(
        `The home ${tenant.homeDir} is not a folder${st.isSymbolicLink() ? ' (it is a symbolic link)' : ''}: backups of it will fail.`,
      )
  } catch {
    out.push(
      `The home folder ${tenant.homeDir} does not exist on this server: backups will fail until it does.`,
    )
  }
  if (tenant.systemUser && !lookupUser(tenant.systemUser)) {
    out.push(
      `The system user “${tenant.systemUser}” does not exist on this server: create it (useradd) or choose another, since backups run as that user.`,
    )
  } else if (!tenant.systemUser && process.getuid?.() === 0) {
    out.push(
      'No system user is set: the panel runs as root and never touches tenant files as root, so backups will fail until one is set.',
    )
  }
  return out
}
