import { createHash, randomBytes } from 'node:crypto'
import type { GuardPolicy } from '../guard.ts'
import { StorageError } from '../types.ts'
import {
  apiError,
  DropboxApiError,
  endpoints,
  readBody,
  transport,
  type Transport,
} from './client.ts'
import { classify } from './errors.ts'

/**
 * Dropbox's OAuth 2 code flow, for the panel's "Connect Dropbox" button: the tenant opens
 * `authorizeUrl`, allows the app, and Dropbox either shows a code to paste back or (with a
 * `redirectUri`, which must be https and registered in the App Console) redirects there with
 * `?code=…&state=…`. `exchangeCode` turns the code into the long-lived refresh token to store.
 */
export function authorizeUrl(
  appKey: string,
  opts: { redirectUri?: string; state: string; codeVerifier?: string },
): string {
  const params = new URLSearchParams({
    client_id: appKey,
    response_type: 'code',
    token_access_type: 'offline',
    state: opts.state,
  })
  if (opts.redirectUri) params.set('redirect_uri', opts.redirectUri)
  if (opts.codeVerifier) {
    params.set('code_challenge', challengeOf(opts.codeVerifier))
    params.set('code_challenge_method', 'S256')
  }
  return `${endpoints().www}/oauth2/authorize?${params}`
}

/** A fresh PKCE code verifier (optional: keep it server-side between the two steps). */
export function newCodeVerifier(): string {
  return randomBytes(48).toString('base64url')
}

function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

/**
 * Exchanges an authorization code for a refresh token. Pass the same `redirectUri` (and PKCE
 * verifier) as to `authorizeUrl`. The connection passes `guard` (Dropbox's hosts are public;
 * tests allowlist their loopback fake). Rejects with a StorageError in plain words.
 */
export async function exchangeCode(
  appKey: string,
  appSecret: string,
  code: string,
  redirectUri?: string,
  opts: { guard?: GuardPolicy; codeVerifier?: string; signal?: AbortSignal } = {},
): Promise<{ refreshToken: string; accountId?: string }> {
  const t = transport(opts.guard ?? { allow: [] })
  const form: Record<string, string> = { grant_type: 'authorization_code', code: code.trim() }
  if (redirectUri) form.redirect_uri = redirectUri
  if (opts.codeVerifier) form.code_verifier = opts.codeVerifier
  try {
    const json = await tokenRequest(t, appKey, appSecret, form, opts.signal)
    if (typeof json.refresh_token !== 'string' || !json.refresh_token) {
      throw new StorageError(
        'BadConfig',
        'Dropbox gave no refresh token: the sign-in link must ask for offline access. Press Connect Dropbox again.',
      )
    }
    return { refreshToken: json.refresh_token, accountId: json.account_id }
  } catch (err) {
    if (err instanceof DropboxApiError && err.tag === 'invalid_grant') {
      throw new StorageError(
        'AuthFailed',
        'Dropbox refused the code: it is mistyped, already used or expired (codes last a few minutes). Press Connect Dropbox again.',
        { cause: err },
      )
    }
    throw classify(err)
  } finally {
    t.close()
  }
}

/** A short-lived access token from the refresh token, and its lifetime in seconds. */
export async function refreshAccessToken(
  t: Transport,
  creds: { appKey: string; appSecret: string; refreshToken: string },
  signal?: AbortSignal,
): Promise<{ accessToken: string; expiresIn: number }> {
  const form = { grant_type: 'refresh_token', refresh_token: creds.refreshToken }
  const json = await tokenRequest(t, creds.appKey, creds.appSecret, form, signal)
  if (typeof json.access_token !== 'string') throw new Error('Dropbox sent no access token')
  const expiresIn = Number(json.expires_in)
  return {
    accessToken: json.access_token,
    expiresIn: Number.isFinite(expiresIn) ? expiresIn : 3600,
  }
}

/** POST /oauth2/token with the app key and secret as HTTP Basic credentials. */
async function tokenRequest(
  t: Transport,
  appKey: string,
  appSecret: string,
  form: Record<string, string>,
  signal?: AbortSignal,
): Promise<Record<string, any>> {
  const basic = Buffer.from(`${appKey}:${appSecret}`).toString('base64')
  const res = await t.send(`${endpoints().api}/oauth2/token`, {
    headers: {
      Authorization: `Basic ${basic}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: Buffer.from(new URLSearchParams(form).toString()),
    signal,
  })
  if (res.statusCode !== 200) throw await apiError('oauth2/token', res)
  return JSON.parse((await readBody(res)).toString('utf8'))
}
