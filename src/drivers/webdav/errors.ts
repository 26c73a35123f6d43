import { StorageError } from '../types.ts'

/** A 3xx answer: redirects are never followed (the guard checked only the configured host). */
export class RedirectRefused extends Error {
  constructor(
    readonly status: number,
    readonly location: string | null,
  ) {
    super(`redirect ${status}`)
  }
}

const TLS = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
])

/** Where a redirect pointed, without any credentials or query it carried. */
function target(location: string | null, origin: string): string {
  if (!location) return 'another address'
  try {
    const u = new URL(location, `http://${origin}`)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return 'another address'
  }
}

/**
 * Maps an error from the webdav client (an HTTP status on `err.status`, a network error's
 * `code`) to the closed StorageError set, in words a hosting user can act on. `origin` is the
 * server's host:port, for messages; they never carry the password. A StorageError passes
 * through unchanged.
 */
export function classify(err: unknown, origin = 'the server'): StorageError {
  if (err instanceof StorageError) return err
  const e = err as { name?: string; status?: number; code?: string; message?: string } | undefined
  if (e?.name === 'AbortError')
    return new StorageError('Transient', 'the operation was cancelled', { cause: err })
  if (err instanceof RedirectRefused) {
    return new StorageError(
      'BadConfig',
      `the server at ${origin} redirected to ${target(err.location, origin)}; redirects are not followed, so enter the final address as the URL`,
      { cause: err },
    )
  }
  const status = typeof e?.status === 'number' ? e.status : undefined
  if (status !== undefined) {
    if (status === 401) {
      return new StorageError(
        'AuthFailed',
        'bad credentials: the WebDAV server refused the user name or password',
        { cause: err },
      )
    }
    if (status === 403) {
      return new StorageError(
        'BadConfig',
        'no write permission: the WebDAV server refused access to this folder',
        { cause: err },
      )
    }
    if (status === 404 || status === 409 || status === 410) {
      return new StorageError('NotFound', 'the object or its folder does not exist', { cause: err })
    }
    if (status === 507) {
      return new StorageError(
        'NoSpace',
        'the server is out of space (its disk or your quota is full)',
        { cause: err },
      )
    }
    if (status === 413) {
      return new StorageError(
        'BadConfig',
        'the WebDAV server refuses files this large (its upload limit is too low for backups)',
        { cause: err },
      )
    }
    if (status === 405 || status === 501) {
      return new StorageError(
        'BadConfig',
        `the server at ${origin} does not accept WebDAV requests at this URL (HTTP ${status}); check the address`,
        { cause: err },
      )
    }
    if (status >= 500)
      return new StorageError(
        'Transient',
        `the WebDAV server had an internal error (HTTP ${status})`,
        { cause: err },
      )
    return new StorageError(
      'Transient',
      `the WebDAV server rejected the request (HTTP ${status})`,
      { cause: err },
    )
  }
  const code = e?.code
  if (code === 'EGUARD') {
    // The guard's own sentence, which node-fetch folds into its message after "reason: ".
    const reason = /reason: (.*)$/s.exec(e?.message ?? '')?.[1]
    return new StorageError('BadConfig', reason ?? `connections to ${origin} are not allowed`, {
      cause: err,
    })
  }
  if (code === 'ECONNREFUSED')
    return new StorageError('Transient', `connection refused by ${origin}`, { cause: err })
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT')
    return new StorageError('Transient', `timed out talking to ${origin}`, { cause: err })
  if (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    /socket hang up/.test(e?.message ?? '')
  ) {
    return new StorageError('Transient', `the connection to ${origin} was cut off`, { cause: err })
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new StorageError(
      'Transient',
      `the host ${origin} could not be found (DNS lookup failed)`,
      { cause: err },
    )
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return new StorageError('Transient', `${origin} cannot be reached from here`, { cause: err })
  if (code && TLS.has(code)) {
    return new StorageError(
      'BadConfig',
      `TLS certificate not trusted: ${origin} presented a certificate that could not be verified (${code})`,
      { cause: err },
    )
  }
  if (code === 'EPROTO' || /wrong version number|SSL routines/i.test(e?.message ?? '')) {
    return new StorageError(
      'BadConfig',
      `the TLS handshake with ${origin} failed (is it really https, on that port?)`,
      { cause: err },
    )
  }
  if (/parsing|xml/i.test(e?.message ?? '')) {
    return new StorageError(
      'Transient',
      `the server at ${origin} did not answer like a WebDAV server; check the URL`,
      { cause: err },
    )
  }
  return new StorageError(
    'Transient',
    `the WebDAV request to ${origin} failed (${code ?? 'unknown error'})`,
    { cause: err },
  )
}
