import type { IncomingMessage } from 'node:http'
import type { GuardPolicy } from '../guard.ts'
import { abortable, apiError, endpoints, headerJson, readBody, transport } from './client.ts'
import { refreshAccessToken } from './oauth.ts'

export type Credentials = { appKey: string; appSecret: string; refreshToken: string }

/** Dropbox API v2 calls made with an access token that is obtained and renewed as needed. */
export type DropboxApi = {
  /** An RPC route (`files/get_metadata`): JSON in, JSON out. */
  rpc<T>(route: string, arg: unknown, signal?: AbortSignal): Promise<T>
  /** A content-upload route: `arg` in the Dropbox-API-Arg header, `body` as the bytes. */
  upload<T>(route: string, arg: unknown, body: Buffer, signal?: AbortSignal): Promise<T>
  /** files/download; resolves with the streaming response (200, or 206 for a Range). */
  download(
    arg: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<IncomingMessage>
  close(): void
}

/**
 * Access tokens come from the refresh token (one refresh at a time, shared by all calls) and
 * are renewed shortly before the lifetime Dropbox gave runs out. A call answered 401
 * `expired_access_token` anyway (revoked early, clock skew) refreshes once and is sent again;
 * every body here is a Buffer, so re-sending is safe.
 */
export function dropboxApi(creds: Credentials, guard: GuardPolicy): DropboxApi {
  const t = transport(guard)
  let current: { token: string; renewAt: number } | undefined
  let refreshing: Promise<string> | undefined

  const token = (signal?: AbortSignal): Promise<string> => {
    if (current && Date.now() < current.renewAt) return Promise.resolve(current.token)
    // Not tied to one caller's signal: the refresh is shared by every waiting call.
    refreshing ??= refreshAccessToken(t, creds)
      .then(({ accessToken, expiresIn }) => {
        const margin = Math.min(300, expiresIn / 10) * 1000
        current = { token: accessToken, renewAt: Date.now() + expiresIn * 1000 - margin }
        return accessToken
      })
      .finally(() => (refreshing = undefined))
    return abortable(refreshing, signal)
  }

  async function call(
    route: string,
    send: (token: string) => Promise<IncomingMessage>,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    for (let attempt = 0; ; attempt++) {
      const used = await token(signal)
      const res = await send(used)
      if (res.statusCode === 200 || res.statusCode === 206) return res
      const err = await apiError(route, res)
      if (res.statusCode === 401 && err.tag === 'expired_access_token' && attempt === 0) {
        if (current?.token === used) current = undefined
        continue
      }
      throw err
    }
  }

  return {
    async rpc(route, arg, signal) {
      const body = Buffer.from(JSON.stringify(arg))
      const res = await call(
        route,
        (token) =>
          t.send(`${endpoints().api}/2/${route}`, {
            headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
            body,
            signal,
          }),
        signal,
      )
      return JSON.parse((await readBody(res)).toString('utf8'))
    },

    async upload(route, arg, body, signal) {
      const res = await call(
        route,
        (token) =>
          t.send(`${endpoints().content}/2/${route}`, {
            headers: {
              Authorization: `Bearer ${token}`,
              'Content-Type': 'application/octet-stream',
              'Dropbox-API-Arg': headerJson(arg),
            },
            body,
            signal,
          }),
        signal,
      )
      return JSON.parse((await readBody(res)).toString('utf8'))
    },

    download(arg, headers, signal) {
      return call(
        'files/download',
        (token) =>
          t.send(`${endpoints().content}/2/files/download`, {
            headers: {
              ...headers,
              Authorization: `Bearer ${token}`,
              'Dropbox-API-Arg': headerJson(arg),
            },
            body: Buffer.alloc(0),
            signal,
          }),
        signal,
      )
    },

    close: () => t.close(),
  }
}
