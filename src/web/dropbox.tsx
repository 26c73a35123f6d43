import { Hono } from 'hono'
import { getCookie, setCookie, deleteCookie } from 'hono/cookie'
import { randomBytes } from 'node:crypto'
import { getDestination } from '../db/destinations.ts'
import { guardPolicy } from '../db/settings.ts'
import { readSecrets, saveDestination } from '../domain/destinations.ts'
import { settingsAsText } from '../domain/settings-text.ts'
import { authorizeUrl, exchangeCode, newCodeVerifier } from '../drivers/dropbox/index.ts'
import { StorageError } from '../drivers/types.ts'
import { NotFoundError } from '../errors.ts'
import { open, seal } from '../secret-box.ts'
import { DropboxConnectPage } from '../../views/dropbox.tsx'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, type Ctx, idParam, isSecure, pageCtx, readForm, redirectTo, str, tenantOf } from './context.ts'

/** The Connect Dropbox flow (OAuth code flow, PKCE), for saved Dropbox destinations. */
export const dropboxRoutes = new Hono<AppEnv>()

const COOKIE = 'panel_dropbox'
type Pending = { destinationId: number; state: string; verifier: string; expires: number }

const context = (c: Ctx) => `dropbox-oauth:${tenantOf(c).id}`

function dropboxDestination(c: Ctx, id: number) {
  const dest = getDestination(c.get('deps').db, tenantOf(c).id, id)
  if (dest.type !== 'dropbox') throw new NotFoundError('That Dropbox destination')
  return dest
}

/** With an https base URL Dropbox can send the tenant back here; otherwise they paste the code. */
function redirectUri(c: Ctx): string | undefined {
  const base = c.get('deps').config.baseUrl
  return base?.startsWith('https://') ? `${base}/backups/destinations/dropbox/callback` : undefined
}

function pending(c: Ctx): Pending | null {
  const raw = getCookie(c, COOKIE)
  if (!raw) return null
  try {
    const p = JSON.parse(open(c.get('deps').config.secretKey, raw, context(c))) as Pending
    return p.expires > Date.now() ? p : null
  } catch {
    return null
  }
}

dropboxRoutes.post('/:id/dropbox/start', (c) => {
  const dest = dropboxDestination(c, idParam(c))
  const p: Pending = { destinationId: dest.id, state: randomBytes(16).toString('base64url'), verifier: newCodeVerifier(), expires: Date.now() + 15 * 60_000 }
  setCookie(c, COOKIE, seal(c.get('deps').config.secretKey, JSON.stringify(p), context(c)), {
    path: '/backups/destinations', httpOnly: true, sameSite: 'Lax', secure: isSecure(c), maxAge: 15 * 60,
  })
  const url = authorizeUrl(String(dest.settings.appKey), { redirectUri: redirectUri(c), state: p.state, codeVerifier: p.verifier })
  return c.html(<DropboxConnectPage ctx={pageCtx(c)} id={dest.id} name={dest.name} url={url} />)
})

async function finish(c: Ctx, destinationId: number, code: string): Promise<string | null> {
  const p = pending(c)
  if (!p || p.destinationId !== destinationId) return 'This sign-in took too long or was started elsewhere. Press Connect Dropbox again.'
  if (!code.trim()) return 'Paste the code Dropbox showed you.'
  const deps = c.get('deps')
  const tenant = tenantOf(c)
  const dest = dropboxDestination(c, destinationId)
  const secrets = readSecrets(deps.config.secretKey, tenant.id, dest)
  try {
    const { refreshToken } = await exchangeCode(String(dest.settings.appKey), secrets.appSecret ?? '', code, redirectUri(c), {
      guard: guardPolicy(deps.db),
      codeVerifier: p.verifier,
    })
    const sd = { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers }
    saveDestination(sd, tenant.id, 'dropbox', dest.id, { name: dest.name, settings: { ...settingsAsText(dest.settings), refreshToken } })
  } catch (err) {
    return err instanceof StorageError ? err.message : 'Dropbox could not be reached. Try again.'
  }
  deleteCookie(c, COOKIE, { path: '/backups/destinations' })
  auditWeb(c, 'dropbox.connect', { target: dest.name })
  return null
}

dropboxRoutes.post('/:id/dropbox/finish', async (c) => {
  const id = idParam(c)
  const code = str(await readForm(c), 'code')
  const error = await finish(c, id, code)
  if (!error) return redirectTo(c, `/backups/destinations/${id}`, { kind: 'ok', text: 'Dropbox connected.' })
  const dest = dropboxDestination(c, id)
  const p = pending(c)
  const url = p ? authorizeUrl(String(dest.settings.appKey), { redirectUri: redirectUri(c), state: p.state, codeVerifier: p.verifier }) : `/backups/destinations/${id}`
  return c.html(<DropboxConnectPage ctx={pageCtx(c)} id={id} name={dest.name} url={url} error={error} code={code} />, 422)
})

/** Dropbox's redirect back (https base URL only); the state ties it to this browser's start. */
dropboxRoutes.get('/dropbox/callback', async (c) => {
  const p = pending(c)
  if (!p || c.req.query('state') !== p.state) throw new NotFoundError('That Dropbox sign-in')
  const error = c.req.query('error') ? 'Dropbox access was not allowed.' : await finish(c, p.destinationId, c.req.query('code') ?? '')
  const flash = error ? { kind: 'error' as const, text: error } : { kind: 'ok' as const, text: 'Dropbox connected.' }
  return redirectTo(c, `/backups/destinations/${p.destinationId}`, flash)
})
