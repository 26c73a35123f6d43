import type { SecretsOf, SettingsOf, Spec } from '../spec.ts'
import type { Capabilities } from '../types.ts'

/** What an SFTP driver guarantees: known before its implementation (and SDK) loads. */
export const capabilities: Capabilities = { atomicPut: true, rangeGet: true, maxConnections: 4 }

/** OpenSSH's fingerprint form, as `ssh-keygen -lf` prints it: `SHA256:` + 43 base64 chars. */
export const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/

/** A host name, IPv4 or (bracketed or not) IPv6 address: no scheme, user, port or path. */
function hostProblem(host: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host))
    return 'Enter only the host name, without sftp:// or ssh://.'
  if (host.includes('@')) return 'Enter the user name in the User field, not in the host.'
  if (!/^(\[[0-9a-f:.]+\]|[0-9a-f:]*:[0-9a-f:.]*|[A-Za-z0-9._-]+)$/i.test(host)) {
    return 'Enter a host name such as backup.example.com or an IP address (the port has its own field).'
  }
  return undefined
}

function pathProblem(path: string): string | undefined {
  if (path.includes('\0')) return 'The path contains an invalid character.'
  if (path.length > 1000) return 'Keep the path under 1,000 characters.'
  return undefined
}

function keyProblem(key: string): string | undefined {
  if (/^(ssh-|ecdsa-)\S+ AAAA/.test(key) || /PUBLIC KEY-----/.test(key)) {
    return 'This is a public key: paste the private key (the file without .pub) instead.'
  }
  if (/PuTTY-User-Key-File/.test(key)) {
    return 'PuTTY keys are not supported: export it in OpenSSH format (PuTTYgen, Conversions menu).'
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    return 'Paste the whole private key, from -----BEGIN … PRIVATE KEY----- to the END line.'
  }
  return undefined
}

function fingerprintProblem(value: string): string | undefined {
  return FINGERPRINT.test(value.replace(/=+$/, ''))
    ? undefined
    : 'Use the form ssh-keygen -lf prints, e.g. SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s (or leave it blank).'
}

/** The SSH/SFTP destination's fields; OpenPanel's SSH_* settings plus the pinned host key. */
export const settings = [
  {
    name: 'host',
    label: 'Host',
    type: 'text',
    required: true,
    placeholder: 'backup.example.com',
    help: 'The SSH server’s host name or IP address.',
    check: hostProblem,
  },
  {
    name: 'port',
    label: 'Port',
    type: 'number',
    default: 22,
    min: 1,
    max: 65535,
    help: 'Usually 22.',
  },
  {
    name: 'path',
    label: 'Remote path',
    type: 'text',
    required: true,
    default: 'backups',
    placeholder: '/home/user/backups',
    help: 'Folder on the server for the backups (created when missing); a path without a leading / is inside the user’s login folder. Each account gets its own sub-folder.',
    check: pathProblem,
  },
  { name: 'user', label: 'User', type: 'text', required: true, placeholder: 'backup' },
  {
    name: 'password',
    label: 'Password',
    type: 'secret',
    help: 'Leave blank to log in with a private key only.',
  },
  {
    name: 'privateKey',
    label: 'Private key',
    type: 'textarea',
    secret: true,
    placeholder: '-----BEGIN OPENSSH PRIVATE KEY-----',
    help: 'An RSA, ECDSA or ed25519 private key, in OpenSSH or PEM format. Its public half goes into ~/.ssh/authorized_keys on the server.',
    check: keyProblem,
  },
  {
    name: 'passphrase',
    label: 'Key passphrase',
    type: 'secret',
    help: 'Only when the private key is protected by one.',
  },
  {
    name: 'hostKey',
    label: 'Host key fingerprint',
    type: 'text',
    advanced: true,
    placeholder: 'SHA256:…',
    help: 'Filled in at the first Test connection and checked on every connection after, so nobody can pose as your server. Clear it only if the server was really reinstalled.',
    check: fingerprintProblem,
  },
] as const satisfies Spec

export type SftpSettings = SettingsOf<typeof settings>
export type SftpSecrets = SecretsOf<typeof settings>
