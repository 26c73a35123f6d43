import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { TENANT_NAME } from '../../names.ts'

/** The uid/gid a tenant's processes run as; null when the panel is not root (development). */
export type RunAs = { uid: number; gid: number } | null

export class IsolationError extends Error {
  readonly permanent = true
}

export function isRoot(): boolean {
  return process.getuid?.() === 0
}

/** Looks a system user up in the passwd database (getent, so NSS sources count too). */
export function lookupUser(name: string): { uid: number; gid: number } | null {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim()
    const [, , uid, gid] = line.split(':')
    return { uid: Number(uid), gid: Number(gid) }
  } catch {
    return null
  }
}

/**
 * Who a tenant's restic, dumps and restores run as. As root the tenant must have a system
 * user that exists and is not root: the panel never reads or writes tenant files as root.
 */
export function runAsFor(tenant: { name: string; systemUser: string | null }): RunAs {
  if (!isRoot()) return null
  if (!tenant.systemUser) {
    throw new IsolationError(
      `Tenant “${tenant.name}” has no system user. Set one under Admin > Tenants: as root the panel does not touch tenant files as root.`,
    )
  }
  const user = lookupUser(tenant.systemUser)
  if (!user)
    throw new IsolationError(
      `The system user “${tenant.systemUser}” does not exist on this server.`,
    )
  if (user.uid === 0) throw new IsolationError('A tenant’s system user cannot be root.')
  return user
}

/**
 * Creates `<workRoot>/<tenant>` (0700, owned by the tenant's user) with `cache/`, `dumps/` and
 * `restore/` inside. Parents get 0711 so the tenant can reach only their own folder.
 */
export function tenantWorkDir(workRoot: string, tenantName: string, runAs: RunAs): string {
  if (!TENANT_NAME.test(tenantName))
    throw new IsolationError(`Invalid tenant name “${tenantName}”.`)
  mkdirSync(workRoot, { recursive: true, mode: 0o711 })
  if (runAs) {
    // The data dir holds only 0600 files besides work/, so letting others traverse it is safe.
    chmodSync(dirname(workRoot), 0o711)
    chmodSync(workRoot, 0o711)
  }
  const dir = join(workRoot, tenantName)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (lstatSync(dir).isSymbolicLink())
    throw new IsolationError('The tenant work directory is a symlink.')
  for (const sub of ['cache', 'dumps', 'restore'])
    mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  if (runAs)
    for (const p of [dir, ...['cache', 'dumps', 'restore'].map((s) => join(dir, s))])
      chownSync(p, runAs.uid, runAs.gid)
  return dir
}
