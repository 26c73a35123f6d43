import { createHash, createPrivateKey, randomBytes } from 'node:crypto'
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2'
import { resolveChecked, type GuardPolicy } from '../guard.ts'
import { StorageError } from '../types.ts'
import { classify, hostKeyChanged } from './errors.ts'

/** Where and as whom to log in. `hostKey` empty: accept any key (pinning only). */
export type Target = {
  host: string
  port: number
  user: string
  password?: string
  privateKey?: string
  passphrase?: string
  guard: GuardPolicy
}

/** One SSH connection with its SFTP channel. */
export type Session = {
  client: Client
  sftp: SFTPWrapper
  /** The server speaks `posix-rename@openssh.com` (an atomic, replacing rename). */
  posixRename: boolean
  /** The server speaks `fsync@openssh.com`. */
  fsync: boolean
}

const READY_TIMEOUT_MS = 20_000

/** `SHA256:<base64 without padding>` of a public key blob, exactly as OpenSSH prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

export function serverName(t: Pick<Target, 'host' | 'port'>): string {
  return `${t.host}:${t.port}`
}

/**
 * Connects to the guard-checked address of `t.host` and opens SFTP. The host key must match
 * `expected` (OpenSSH SHA256 fingerprint) or the handshake is abandoned before any credential
 * is sent. Rejects with a classified StorageError.
 */
export async function connect(t: Target, expected: string): Promise<Session> {
  const server = serverName(t)
  const { address } = await resolveChecked(t.guard, t.host)
  let seen: string | undefined
  const client = new Client()
  const config: ConnectConfig = {
    ...(await credentials(t)),
    host: address,
    port: t.port,
    username: t.user,
    readyTimeout: READY_TIMEOUT_MS,
    // A dead peer (cable pulled, server frozen) is noticed within ~30 s instead of never.
    keepaliveInterval: 10_000,
    keepaliveCountMax: 3,
    tryKeyboard: Boolean(t.password),
    hostVerifier: (key: Buffer) => {
      seen = fingerprint(key)
      return seen === expected
    },
  }
  // Servers that take passwords through keyboard-interactive (PAM) ask for it as a prompt.
  client.on('keyboard-interactive', (_name, _instr, _lang, prompts, finish) =>
    finish(prompts.map(() => t.password ?? '')),
  )
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve)
      client.once('error', reject)
      client.once('close', () =>
        reject(new StorageError('Transient', `the connection to ${server} was lost`)),
      )
      client.connect(config)
    })
  } catch (err) {
    client.on('error', () => {})
    client.end()
    if (seen && seen !== expected) throw hostKeyChanged(expected, seen)
    throw classify(err, { server })
  }
  client.on('error', () => {}) // reported through the calls that were in flight, and 'close'
  try {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((err, s) => (err ? reject(err) : resolve(s))),
    )
    sftp.setMaxListeners(0) // every request in flight watches for 'close' (see ops.ts)
    const ext = (name: string) =>
      (sftp as unknown as { _extensions: Record<string, string> })._extensions[name] === '1'
    return {
      client,
      sftp,
      posixRename: ext('posix-rename@openssh.com'),
      fsync: ext('fsync@openssh.com'),
    }
  } catch (err) {
    client.end()
    if (/subsystem/i.test(String((err as Error)?.message))) {
      throw new StorageError(
        'BadConfig',
        `${server} accepted the login but offers no SFTP (its sftp subsystem is off)`,
        { cause: err },
      )
    }
    throw classify(err, { server })
  }
}

/**
 * Reads the server's host key fingerprint: the handshake stops right after the key exchange,
 * so no credential is sent to a server not yet trusted.
 */
export async function readHostKey(t: Target): Promise<string> {
  const server = serverName(t)
  const { address } = await resolveChecked(t.guard, t.host)
  const client = new Client()
  let seen: string | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('error', (err) => (seen ? resolve() : reject(err)))
      client.once('close', () =>
        seen
          ? resolve()
          : reject(new StorageError('Transient', `the connection to ${server} was lost`)),
      )
      client.connect({
        host: address,
        port: t.port,
        username: t.user,
        readyTimeout: READY_TIMEOUT_MS,
        hostVerifier: (key: Buffer) => {
          seen = fingerprint(key)
          return false
        },
      })
    })
  } catch (err) {
    throw classify(err, { server })
  } finally {
    client.end()
  }
  return seen!
}

/** ssh2 login options from the secrets; PKCS#8 keys (which ssh2 cannot read) are converted. */
async function credentials(t: Target): Promise<Partial<ConnectConfig>> {
  const out: Partial<ConnectConfig> = {}
  if (t.password) out.password = t.password
  const key = t.privateKey?.trim().replace(/\r\n/g, '\n')
  if (key) {
    if (/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(key))
      out.privateKey = fromPkcs8(key, t.passphrase)
    else {
      out.privateKey = key
      if (t.passphrase) out.passphrase = t.passphrase
    }
  }
  if (!out.password && !out.privateKey) {
    throw new StorageError('BadConfig', 'Enter a password or a private key to log in with.')
  }
  return out
}

/** A PKCS#8 PEM key as a format ssh2 reads: PKCS#1 (RSA), SEC1 (ECDSA) or OpenSSH (ed25519). */
function fromPkcs8(pem: string, passphrase?: string): string {
  let key
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase: passphrase ?? '' })
  } catch (err) {
    const encrypted = pem.includes('ENCRYPTED')
    throw encrypted
      ? new StorageError('AuthFailed', 'the private key’s passphrase is missing or wrong', {
          cause: err,
        })
      : new StorageError(
          'BadConfig',
          'the private key could not be read: use an RSA, ECDSA or ed25519 key in OpenSSH or PEM format',
          { cause: err },
        )
  }
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return key.export({ type: 'pkcs1', format: 'pem' }) as string
    case 'ec':
      return key.export({ type: 'sec1', format: 'pem' }) as string
    case 'ed25519': {
      const jwk = key.export({ format: 'jwk' })
      return openSshEd25519(Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url'))
    }
    default:
      throw new StorageError(
        'BadConfig',
        `${key.asymmetricKeyType} keys are not supported: use RSA, ECDSA or ed25519`,
      )
  }
}

/** An unencrypted `openssh-key-v1` file for an ed25519 seed and public key (PROTOCOL.key). */
function openSshEd25519(seed: Buffer, pub: Buffer): string {
  const str = (b: Buffer | string) => {
    const data = Buffer.from(b)
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    return Buffer.concat([len, data])
  }
  const u32 = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }
  const pubBlob = Buffer.concat([str('ssh-ed25519'), str(pub)])
  const check = randomBytes(4)
  let priv = Buffer.concat([check, check, pubBlob, str(Buffer.concat([seed, pub])), str('')])
  const pad = Buffer.from(Array.from({ length: (8 - (priv.length % 8)) % 8 }, (_, i) => i + 1))
  priv = Buffer.concat([priv, pad])
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    str('none'),
    str('none'),
    str(''),
    u32(1),
    str(pubBlob),
    str(priv),
  ])
  const lines = body
    .toString('base64')
    .match(/.{1,70}/g)!
    .join('\n')
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`
}
