import { StorageError } from '../types.ts'

/** SFTP status codes (draft-ietf-secsh-filexfer-02, what OpenSSH speaks). */
const NO_SUCH_FILE = 2
const PERMISSION_DENIED = 3
/**
 * Later drafts' codes for a full disk and an exhausted quota, which some servers send. OpenSSH
 * reports both as a plain failure (4), which stays Transient.
 */
const NO_SPACE = [14, 15]

/** What a failed call was doing: `server` is `host:port` as the user typed it; `path` a folder. */
export type Where = { server?: string; path?: string }

/**
 * Maps an ssh2 / socket / SFTP error to the closed StorageError set, in words a hosting user
 * understands. Never includes secrets (ssh2's messages carry none; keys and passwords are only
 * ever in the connect options). A StorageError passes through unchanged.
 */
export function classify(err: unknown, where: Where = {}): StorageError {
  if (err instanceof StorageError) return err
  const e = err as (Error & { code?: unknown; level?: string }) | undefined
  const server = where.server ?? 'the server'
  const message = String(e?.message ?? err)
  const make = (code: StorageError['code'], text: string) =>
    new StorageError(code, text, { cause: err })
  if (e?.name === 'AbortError') return make('Transient', 'the operation was cancelled')

  if (typeof e?.code === 'number') {
    if (e.code === NO_SUCH_FILE) return make('NotFound', 'the object does not exist')
    if (e.code === PERMISSION_DENIED) {
      return make(
        'BadConfig',
        `no write permission in ${where.path ?? 'the remote path'} on ${server}`,
      )
    }
    if (NO_SPACE.includes(e.code)) {
      return make('NoSpace', `${server} is out of space (its disk or your quota is full)`)
    }
    return make('Transient', `the SFTP server reported a failure (${message})`)
  }
  if (e?.level === 'client-authentication') {
    return make('AuthFailed', `bad credentials: ${server} refused the user name, password or key`)
  }
  if (
    /no passphrase given|bad passphrase|passphrase.*(wrong|incorrect)|bad decrypt/i.test(message)
  ) {
    return make('AuthFailed', 'the private key’s passphrase is missing or wrong')
  }
  if (/privateKey|private key|Unsupported key format|Unsupported OpenSSH key/i.test(message)) {
    return make(
      'BadConfig',
      'the private key could not be read: use an RSA, ECDSA or ed25519 key in OpenSSH or PEM format',
    )
  }
  switch (e?.code) {
    case 'ECONNREFUSED':
      return make('Transient', `connection refused by ${server}`)
    case 'ETIMEDOUT':
      return make('Transient', `timed out connecting to ${server}`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make('BadConfig', `the host of ${server} could not be found (DNS lookup failed)`)
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return make('Transient', `${server} cannot be reached from here (no route)`)
    case 'ECONNRESET':
    case 'EPIPE':
      return make('Transient', `the connection to ${server} was lost`)
  }
  if (e?.level === 'client-timeout')
    return make('Transient', `timed out waiting for ${server} to answer`)
  if (
    /No response from server|Not connected|channel.*(closed|open failure)|Unable to start subsystem|closed/i.test(
      message,
    )
  ) {
    return make('Transient', `the connection to ${server} was lost`)
  }
  if (e?.level === 'protocol' || e?.level === 'handshake') {
    return make('Transient', `${server} does not speak a compatible SSH protocol (${message})`)
  }
  return make('Transient', `the SFTP connection to ${server} failed (${message})`)
}

/** The refusal when the server's host key is not the pinned one. */
export function hostKeyChanged(expected: string, got: string): StorageError {
  return new StorageError(
    'BadConfig',
    `the server's host key changed: expected ${expected}, got ${got}. If the server was reinstalled, clear the host key fingerprint and test the connection again; otherwise someone may be intercepting the connection.`,
  )
}
