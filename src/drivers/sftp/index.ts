import { posix } from 'node:path'
import { defineDriver, type DriverContext } from '../entry.ts'
import { StorageError } from '../types.ts'
import { lazyDriver } from '../lazy.ts'
import { capabilities, settings, type SftpSecrets, type SftpSettings } from './settings.ts'
import type { Target } from './connect.ts'
import { hostKeyChanged } from './errors.ts'

const portOf = (s: SftpSettings) => (s.port !== null && s.port > 0 ? s.port : 22)

/**
 * The remote folder for this tenant: `<path>/<tenant>`. A path without a leading `/` is inside
 * the login folder (SFTP resolves it there); `~/` means the same and is dropped, as SFTP does
 * not expand it.
 */
export function remoteRoot(s: SftpSettings, ctx: DriverContext): string {
  const path = s.path.trim().replace(/^~(\/|$)/, '') || '.'
  return posix.join(path, ctx.tenantName)
}

function target(s: SftpSettings, secrets: SftpSecrets, ctx: DriverContext): Target {
  return {
    host: s.host.trim().replace(/^\[|\]$/g, ''),
    port: portOf(s),
    user: s.user.trim(),
    password: secrets.password || undefined,
    privateKey: secrets.privateKey || undefined,
    passphrase: secrets.passphrase || undefined,
    guard: ctx.guard,
  }
}

const pinned = (s: SftpSettings) => s.hostKey.trim().replace(/=+$/, '')

/**
 * Reads the server's host key fingerprint (OpenSSH's `SHA256:…`) for the panel to store in the
 * `hostKey` setting at Test connection. When a key is already pinned, a different one is
 * refused (BadConfig) instead of silently re-pinned. No credential is sent.
 */
export async function pinHostKey(
  s: SftpSettings,
  secrets: SftpSecrets,
  ctx: DriverContext,
): Promise<{ fingerprint: string }> {
  const t = target(s, secrets, ctx)
  if (!t.host) throw new StorageError('BadConfig', 'No host name was given.')
  const { readHostKey } = await import('./connect.ts')
  const fingerprint = await readHostKey(t)
  const expected = pinned(s)
  if (expected && expected !== fingerprint) throw hostKeyChanged(expected, fingerprint)
  return { fingerprint }
}

export const sftp = defineDriver({
  label: 'SSH/SFTP',
  description: 'Any server you can log in to with SSH: a NAS, a VPS or a storage box.',
  settings,
  /** Test connection pins the host key on first contact; a pinned key is checked, not replaced. */
  async pin(s, secrets, ctx) {
    const { fingerprint } = await pinHostKey(s, secrets, ctx)
    return pinned(s) ? {} : { hostKey: fingerprint }
  },
  /**
   * `<path>/<tenant>` on the server; every call refuses until the host key is pinned. ssh2 loads
   * at the first call.
   */
  open(s, secrets, ctx) {
    const options = { ...target(s, secrets, ctx), root: remoteRoot(s, ctx), hostKey: pinned(s) }
    return lazyDriver(capabilities, async () => (await import('./driver.ts')).sftpDriver(options))
  },
  repository(s, _secrets, ctx) {
    const { host, port, user } = target(s, {}, ctx)
    const root = remoteRoot(s, ctx)
    const name = host.includes(':') ? `[${host}]` : host
    // restic's short form cannot carry a port or an IPv6 address; its URL form drops the first
    // `/` of the path, so an absolute path shows two.
    const short = port === 22 && !host.includes(':')
    const repository = short
      ? `sftp:${user}@${name}:${root}`
      : `sftp://${user}@${name}:${port}/${root}`
    const key = pinned(s)
    const note =
      `Stock restic opens this folder directly from any computer that can sign in to ${name} over SSH. ` +
      `restic’s sftp backend runs your system’s ssh client, so set up the login there first: put the private key in ~/.ssh (for example ~/.ssh/id_ed25519, chmod 600) or load it into ssh-agent, or type the password when ssh asks for it. ` +
      `Check the server’s host key when ssh asks to trust it${key ? `: it must be ${key}` : ''}. ` +
      `Test with: ssh ${port === 22 ? '' : `-p ${port} `}${user}@${name}`
    return { repository, note }
  },
})

export type { SftpSettings }
