import { STORAGE_ERROR_CODES, StorageError, type StorageErrorCode } from '../types.ts'

/** What the messages may name: the bucket, and the endpoint as `host:port`. */
export type Where = { bucket: string; host: string }

const CODES: readonly string[] = STORAGE_ERROR_CODES

/**
 * Error codes for a full disk or an exhausted quota: MinIO's (`XMinioStorageFull`, HTTP 507;
 * a bucket quota), Ceph RGW's (`QuotaExceeded`, HTTP 403).
 */
const NO_SPACE = new Set(['XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'QuotaExceeded'])

const TLS_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
])

type Fields = {
  name?: string
  code?: string
  Code?: string
  message?: string
  Region?: string
  $metadata?: { httpStatusCode?: number }
  $response?: { statusCode?: number }
}

/**
 * Maps an S3 SDK, network or TLS error to the closed StorageError set, in words a hosting user
 * understands. Never includes credentials; the original error stays in `cause` for logs.
 * A StorageError passes through (one the guard raised inside a connection attempt, re-coded
 * `EGUARD` by the lookup, becomes the BadConfig it was).
 */
export function classify(err: unknown, where: Where): StorageError {
  if (err instanceof StorageError) {
    return CODES.includes(err.code)
      ? err
      : new StorageError('BadConfig', err.message, { cause: err })
  }
  const e = (err ?? {}) as Fields
  const make = (code: StorageErrorCode, message: string) =>
    new StorageError(code, message, { cause: err })
  const net = e.code ?? ''
  if (e.name === 'AbortError' || net === 'ABORT_ERR')
    return make('Transient', 'the operation was cancelled')
  if (TLS_UNTRUSTED.has(net))
    return make(
      'BadConfig',
      `TLS certificate not trusted (${where.host}): give its CA certificate, or check the endpoint`,
    )
  if (net === 'CERT_HAS_EXPIRED')
    return make('BadConfig', `the TLS certificate of ${where.host} has expired`)
  if (net === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return make('BadConfig', `the TLS certificate of ${where.host} is for a different host name`)
  if (
    net === 'EPROTO' ||
    net.startsWith('ERR_SSL_') ||
    /wrong version number/i.test(e.message ?? '')
  ) {
    return make(
      'BadConfig',
      `${where.host} did not answer with TLS: is the endpoint protocol http?`,
    )
  }
  switch (net) {
    case 'ECONNREFUSED':
      return make('Transient', `connection refused by ${where.host}`)
    case 'ENOTFOUND':
      return make('BadConfig', `the host ${where.host} could not be found (DNS lookup failed)`)
    case 'EAI_AGAIN':
      return make('Transient', `the host ${where.host} could not be looked up right now (DNS)`)
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return make('Transient', `timed out talking to ${where.host}`)
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return make('Transient', `the connection to ${where.host} was cut off`)
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return make('Transient', `${where.host} is unreachable from this server`)
  }
  if (e.name === 'TimeoutError') return make('Transient', `timed out talking to ${where.host}`)
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode
  const s3code = e.Code ?? e.name ?? ''
  if (NO_SPACE.has(s3code) || status === 507)
    return make('NoSpace', 'the storage server is out of space (its disk or your quota is full)')
  switch (s3code) {
    case 'NoSuchBucket':
      return make('BadConfig', `bucket “${where.bucket}” does not exist`)
    case 'NoSuchKey':
    case 'NotFound':
      return make('NotFound', 'the object does not exist')
    case 'InvalidAccessKeyId':
      return make('AuthFailed', 'bad credentials: the access key was refused')
    case 'SignatureDoesNotMatch':
      return make('AuthFailed', 'bad credentials: the secret key does not match the access key')
    case 'ExpiredToken':
    case 'InvalidToken':
    case 'TokenRefreshRequired':
      return make('AuthFailed', 'bad credentials: the session token expired or was refused')
    case 'AccessDenied':
    case 'AllAccessDisabled':
    case 'AccountProblem':
      return make(
        'AuthFailed',
        `access denied: these credentials may not use bucket “${where.bucket}”`,
      )
    case 'InvalidBucketName':
      return make('BadConfig', `the storage server rejects the bucket name “${where.bucket}”`)
    case 'InvalidStorageClass':
      return make('BadConfig', 'the storage server does not offer the chosen storage class')
    case 'InvalidObjectState':
      return make(
        'BadConfig',
        'the object is archived (GLACIER/DEEP_ARCHIVE) and must be restored at the provider first',
      )
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
    case 'IllegalLocationConstraintException':
      return make(
        'BadConfig',
        `bucket “${where.bucket}” is in another region${e.Region ? ` (${e.Region})` : ''}: set Region to match`,
      )
    case 'NotImplemented':
    case 'MethodNotAllowed':
      return make('BadConfig', 'the storage server does not support an operation backups need')
    case 'EntityTooSmall':
    case 'EntityTooLarge':
    case 'InvalidPart':
    case 'InvalidPartOrder':
      return make(
        'BadConfig',
        'the storage server refused the upload’s part sizes: adjust Part size',
      )
    case 'SlowDown':
    case 'RequestTimeout':
    case 'RequestTimeTooSkewed':
      return make('Transient', `${where.host} asked us to slow down or retry (${s3code})`)
  }
  if (status === 404) return make('NotFound', 'the object does not exist')
  if (status === 401 || status === 403)
    return make('AuthFailed', 'bad credentials: the storage server refused access')
  if (status === 429 || (status !== undefined && status >= 500)) {
    return make('Transient', `the storage server is busy or failing (HTTP ${status}); will retry`)
  }
  if (status === 301 || status === 307)
    return make('BadConfig', `${where.host} redirects elsewhere: check the endpoint and region`)
  if (status !== undefined)
    return make('Transient', `the storage server answered ${s3code || 'an error'} (HTTP ${status})`)
  return make('Transient', `the storage request failed (${net || e.name || 'unknown error'})`)
}
