import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { DriverContext } from '../../src/drivers/registry.ts'
import { sftp } from '../../src/drivers/sftp/index.ts'
import type { Driver } from '../../src/drivers/types.ts'
import type { SshServer } from '../services/sshd.ts'

export const LOOPBACK = { allow: ['127.0.0.1', 'localhost', '::1'] }

/**
 * Drivers on `server()` (its password login, its pinned host key, `<home>/backups`), each for a
 * fresh tenant unless told; `closeAll` closes every one opened. `logins` and `connections`
 * count what sshd logged.
 */
export function sftpDrivers(server: () => SshServer) {
  const opened: Driver[] = []
  const ctx = (tenantName = `t${randomBytes(4).toString('hex')}`): DriverContext => ({
    tenantName,
    localRoot: '/nonexistent',
    guard: LOOPBACK,
  })
  const values = (extra: Record<string, unknown> = {}) => ({
    host: server().host,
    port: server().port,
    path: join(server().home, 'backups'),
    user: server().user,
    hostKey: server().fingerprint(),
    ...extra,
  })
  const open = (
    extra: Record<string, unknown> = {},
    secrets: Record<string, string> = { password: server().password },
    c = ctx(),
  ) => {
    const d = sftp.open(values(extra), secrets, c)
    opened.push(d)
    return d
  }
  const logins = () =>
    (
      server()
        .log()
        .match(/Accepted (password|publickey) for /g) ?? []
    ).length
  const connections = () =>
    (
      server()
        .log()
        .match(/Connection from 127\.0\.0\.1/g) ?? []
    ).length
  const closeAll = () => Promise.all(opened.map((d) => d.close?.()))
  return { ctx, values, open, logins, connections, closeAll }
}
