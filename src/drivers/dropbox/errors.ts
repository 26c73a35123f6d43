import { StorageError } from '../types.ts'
import { DropboxApiError } from './client.ts'

const TLS = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT)/

/**
 * Maps a Dropbox API answer or a network failure to the closed StorageError set, in words a
 * hosting user can act on. Messages never carry tokens, the app secret or request bodies (the
 * original error stays in `cause` for logs). A StorageError passes through unchanged.
 */
export function classify(err: unknown): StorageError {
  if (err instanceof StorageError && err.code !== ('EGUARD' as string)) return err
  const e = err as (Error & { code?: string; cause?: unknown }) | undefined
  const make = (code: StorageError['code'], message: string) =>
    new StorageError(code, message, { cause: err })
  if (e?.name === 'AbortError') return make('Transient', 'the operation was cancelled')
  if (err instanceof DropboxApiError) return fromApi(err, make)
  switch (e?.code) {
    // guardedLookup marks its refusals (a StorageError) with this code; a cause means DNS failed.
    case 'EGUARD':
      return e.cause
        ? make('Transient', `could not reach Dropbox: ${e.message}`)
        : make('BadConfig', e.message)
    case 'ECONNREFUSED': {
      const at = 'address' in e ? ` by ${(e as any).address}:${(e as any).port}` : ''
      return make('Transient', `connection to Dropbox refused${at}`)
    }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make(
        'Transient',
        'could not reach Dropbox: its name could not be resolved (DNS lookup failed)',
      )
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return make('Transient', 'the connection to Dropbox timed out')
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return make('Transient', 'the connection to Dropbox was cut off')
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return make('Transient', 'could not reach Dropbox: the network is unreachable')
  }
  if (e?.code && TLS.test(e.code))
    return make('BadConfig', 'Dropbox’s TLS certificate is not trusted')
  if (e instanceof SyntaxError)
    return make('Transient', 'Dropbox sent an answer that could not be read')
  return make(
    'Transient',
    `the request to Dropbox failed (${e?.code ?? e?.message ?? 'unknown error'})`,
  )
}

function fromApi(
  err: DropboxApiError,
  make: (code: StorageError['code'], m: string) => StorageError,
) {
  const { status, tag, summary } = err
  if (tag === 'invalid_client' || tag === 'unauthorized_client') {
    return make('AuthFailed', 'the app key or app secret was refused')
  }
  if (tag === 'invalid_grant') {
    return make(
      'AuthFailed',
      'the Dropbox connection was revoked or belongs to another app: press Connect Dropbox again',
    )
  }
  if (status === 401) {
    if (tag === 'missing_scope') {
      const scope = (err.detail as any)?.required_scope
      return make(
        'AuthFailed',
        `the Dropbox app lacks the permission ${scope ?? 'it needs'}: enable files.content.read/write and files.metadata.read/write in the App Console, then press Connect Dropbox again`,
      )
    }
    return make('AuthFailed', 'Dropbox refused the access token: press Connect Dropbox again')
  }
  if (status === 400 && err.route === 'oauth2/token')
    return make('AuthFailed', `Dropbox refused the sign-in (${tag || 'bad request'})`)
  if (status === 403) return make('BadConfig', 'Dropbox refused access to this account or feature')
  if (/insufficient_space/.test(summary)) {
    return make('NoSpace', 'Dropbox is full: free up space or upgrade the Dropbox plan')
  }
  if (status === 429 || /too_many_(write_operations|requests)/.test(summary)) {
    const wait = err.retryAfter !== undefined ? `; it asked us to wait ${err.retryAfter} s` : ''
    return make('Transient', `Dropbox is rate-limiting requests (too many requests)${wait}`)
  }
  if (status === 409) {
    if (/^(path|path_lookup|from_lookup)\/(not_found|not_file|not_folder)/.test(summary)) {
      return make('NotFound', 'the object does not exist')
    }
    if (/^path\/conflict/.test(summary))
      return make('BadConfig', 'a file or folder in Dropbox is in the way of that object')
    if (/no_write_permission/.test(summary))
      return make('BadConfig', 'the app may not write to that Dropbox folder')
    if (/(malformed_path|disallowed_name)/.test(summary))
      return make('BadConfig', 'Dropbox does not accept that file or folder name')
    if (/incorrect_offset|lookup_failed|closed|not_found/.test(summary)) {
      return make('Transient', 'the Dropbox upload session was interrupted')
    }
    return make('Transient', `Dropbox refused the request (${summary.split('/')[0]})`)
  }
  // A 400's text may echo request headers, so it stays in `cause` only.
  if (status === 400)
    return make('BadConfig', 'Dropbox rejected the request as malformed (HTTP 400)')
  if (status >= 500) return make('Transient', `Dropbox had a server error (HTTP ${status})`)
  if (status >= 300 && status < 400)
    return make(
      'BadConfig',
      `Dropbox answered with a redirect (HTTP ${status}), which is not followed`,
    )
  return make('Transient', `Dropbox answered HTTP ${status}`)
}
