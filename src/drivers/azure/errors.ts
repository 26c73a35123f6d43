import { StorageError } from '../types.ts'

/** What a message may name: the container, and which credential was used. */
export type Where = { container?: string; auth?: 'key' | 'sas' }

type AzureError = Error & {
  code?: string
  statusCode?: number
  details?: { errorCode?: string }
  request?: { url?: string }
}

const TLS = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** `host:port` of the request that failed, for "connection refused by …" (never the query: it may hold a SAS). */
function hostOf(err: AzureError): string {
  try {
    const url = new URL(err.request?.url ?? '')
    return url.port ? `${url.hostname}:${url.port}` : url.hostname
  } catch {
    return 'the storage endpoint'
  }
}

/**
 * The cause kept for logs: name, code, status and the first line of the message with any SAS
 * signature blanked, but not the SDK's request object (its URL carries the SAS token).
 */
function scrubbed(e: AzureError): Error {
  const text = String(e.message ?? '')
    .split('\n')[0]!
    .replace(/([?&]sig=)[^&\s'"]+/gi, '$1…')
  return Object.assign(new Error(text), { name: e.name, code: e.code, statusCode: e.statusCode })
}

/**
 * Maps an Azure SDK (RestError) or network error to the closed StorageError set, in words a
 * hosting user can act on. Neither the message nor the `cause` (a scrubbed copy of the original,
 * for logs) carries the key, the SAS token or a request URL. A StorageError passes through.
 */
export function classify(err: unknown, where: Where = {}): StorageError {
  if (err instanceof StorageError) return err
  const e = (err ?? {}) as AzureError
  if (e.name === 'AbortError')
    return new StorageError('Transient', 'the operation was cancelled', { cause: err })
  const status = e.statusCode
  const code = e.details?.errorCode ?? (status ? e.code : undefined)
  const cause = scrubbed(e)
  const said = (text: string, kind: StorageError['code'] = 'Transient') =>
    new StorageError(kind, text, { cause })
  const credential = where.auth === 'sas' ? 'the SAS token' : 'the account key'

  if (status !== undefined) {
    if (code === 'ContainerNotFound')
      return said(`container “${where.container ?? '?'}” does not exist`, 'BadConfig')
    if (code === 'BlobNotFound' || status === 404)
      return said('the object does not exist', 'NotFound')
    if (
      code === 'AuthorizationPermissionMismatch' ||
      code === 'AuthorizationResourceTypeMismatch' ||
      code === 'AuthorizationServiceMismatch'
    ) {
      return said(
        `${credential} does not allow this: it needs read, write, delete, list and create permissions on the Blob service`,
        'AuthFailed',
      )
    }
    if (code === 'AccountIsDisabled') return said('the storage account is disabled', 'AuthFailed')
    if (code === 'AuthorizationSourceIPMismatch' || code === 'AuthorizationProtocolMismatch') {
      return said(
        `${credential} is not valid from this server (its IP range or protocol does not match)`,
        'AuthFailed',
      )
    }
    if (
      status === 403 ||
      code === 'InvalidAuthenticationInfo' ||
      code === 'NoAuthenticationInformation'
    ) {
      return said(`bad credentials: ${credential} was refused`, 'AuthFailed')
    }
    if (status >= 300 && status < 400) {
      return said(
        'the endpoint answered with a redirect, which is not followed: check the endpoint',
        'BadConfig',
      )
    }
    if (status === 416) return said('invalid byte range', 'BadConfig')
    if (code === 'InvalidResourceName' || code === 'OutOfRangeInput') {
      return said('Azure refused the container or object name', 'BadConfig')
    }
    // Azure has no quota error for blobs; compatible services answer a full disk with 507.
    if (status === 507) return said('the storage server is out of space', 'NoSpace')
    if (status === 429 || code === 'ServerBusy')
      return said('Azure is busy (too many requests); try again later')
    if (status >= 500)
      return said(`Azure had a server error (HTTP ${status}${code ? ` ${code}` : ''})`)
    return said(`Azure refused the request (HTTP ${status}${code ? ` ${code}` : ''})`)
  }

  switch (e.code) {
    case 'EGUARD':
      // The guard's own message is already plain ("resolves to a private address", "could not be found").
      return said(e.message, 'BadConfig')
    case 'ECONNREFUSED':
      return said(`connection refused by ${hostOf(e)}`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return said(`the host ${hostOf(e)} could not be found (DNS lookup failed)`, 'BadConfig')
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return said('timed out')
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return said(`the connection to ${hostOf(e)} was dropped`)
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return said(`${hostOf(e)} is unreachable from this server`)
  }
  if (e.code && TLS.has(e.code)) return said('TLS certificate not trusted', 'BadConfig')
  if (e.code === 'EPROTO' || /wrong version number|packet length too long/i.test(e.message ?? '')) {
    return said('TLS handshake failed: does the endpoint speak https?', 'BadConfig')
  }
  return said(`the storage request failed (${e.code ?? e.name ?? 'unknown error'})`)
}
