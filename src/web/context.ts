import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { getConnInfo } from '@hono/node-server/conninfo'
import type { Config } from '../config.ts'
import { type TrustedProxies, forwardedClient, forwardedScheme } from '../trusted-proxies.ts'
import type { Db } from '../db/client.ts'
import type { Registry } from '../drivers/registry.ts'
import type { SessionValidationResult } from '../auth/session.ts'
import type { Flash, PageCtx } from '../../views/layout.tsx'
import { NotFoundError } from '../errors.ts'
import { safeZone, serverZone } from '../zoned.ts'
import type { Tenant } from '../db/schema.ts'

export type Deps = {
  db: Db
  config: Config
  drivers: Registry
  /** A warning every admin page shows (e.g. restic missing), or null. */
  adminBanner?: () => string | null
  /** Makes this process's runner poll now after a job was queued; absent when it runs elsewhere. */
  wake?: () => void
  /** The clock for time rules such as sign-in waits (default Date.now); tests set their own. */
  now?: () => number
  /** This process's runner id (its runner_heartbeats row); absent when it runs no runner. */
  runnerId?: string
}

export type AppEnv = {
  Variables: {
    deps: Deps
    auth: SessionValidationResult
    csrf: string
  }
}

export type Ctx = Context<AppEnv>

const FLASH_COOKIE = 'panel_flash'

/** The socket peer's address; `unknown` without a socket (e.g. `app.request()` without env). */
function peerAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

function trustedProxies(c: Context): TrustedProxies | undefined {
  return (c.get('deps') as Deps | undefined)?.config.trustedProxies
}

/**
 * The client's address: the socket peer's, or, when the peer is a trusted proxy
 * (PANEL_TRUSTED_PROXIES), the rightmost untrusted `X-Forwarded-For` hop. The sign-in throttle,
 * the audit log and everything else that names the client use this one value.
 */
export function clientIp(c: Context): string {
  const peer = peerAddress(c)
  const proxies = trustedProxies(c)
  return proxies ? forwardedClient(peer, c.req.header('x-forwarded-for'), proxies) : peer
}

/** The scheme the client used: `X-Forwarded-Proto` from a trusted proxy, else the request's. */
export function requestScheme(c: Context): 'http' | 'https' {
  const arrived = new URL(c.req.url).protocol === 'https:' ? 'https' : 'http'
  const proxies = trustedProxies(c)
  if (!proxies) return arrived
  return forwardedScheme(peerAddress(c), c.req.header('x-forwarded-proto'), proxies, arrived)
}

/** The origin the client's browser sees (its scheme and the Host header), for the CSRF check. */
export function requestOrigin(c: Context): string {
  return new URL(`${requestScheme(c)}://${new URL(c.req.url).host}`).origin
}

/**
 * True when the request is an htmx request for a fragment. A history restore (back button or
 * reload after hx-push-url) asks with HX-Request too, but needs the whole page.
 */
export function isHtmx(c: Ctx): boolean {
  return (
    c.req.header('hx-request') === 'true' &&
    c.req.header('hx-boosted') !== 'true' &&
    c.req.header('hx-history-restore-request') !== 'true'
  )
}

/** Whether cookies get `Secure`: PANEL_BASE_URL's scheme when set, else the client's scheme. */
export function isSecure(c: Ctx): boolean {
  const base = c.get('deps').config.baseUrl
  return base ? base.startsWith('https:') : requestScheme(c) === 'https'
}

/** Everything a full page needs: CSRF token, who is signed in, and a one-shot flash. */
export function pageCtx(c: Ctx): PageCtx {
  const { user } = c.get('auth')
  let flash: Flash | null = null
  const raw = getCookie(c, FLASH_COOKIE)
  if (raw) {
    deleteCookie(c, FLASH_COOKIE, { path: '/' })
    try {
      flash = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
    } catch {
      flash = null
    }
  }
  const banner = user?.role === 'admin' ? (c.get('deps').adminBanner?.() ?? null) : null
  const brand = (c.get('deps') as Deps | undefined)?.config.brand
  const tenant = c.get('auth').tenant
  return {
    csrf: c.get('csrf'),
    user: user ? { name: user.username, role: user.role } : null,
    flash,
    bannerText: banner,
    brand: brand && { name: brand.name, logo: brand.logo, accent: brand.accent !== null },
    // One clock per page: the tenant's zone, or the server's on admin pages.
    zone: user?.role === 'admin' ? serverZone() : tenant ? safeZone(tenant.timezone) : undefined,
  }
}

/** Redirect after a POST: HX-Redirect for htmx, 303 otherwise; the flash shows on the next page. */
export function redirectTo(c: Ctx, url: string, flash?: Flash): Response {
  if (flash) {
    const value = Buffer.from(JSON.stringify(flash)).toString('base64url')
    setCookie(c, FLASH_COOKIE, value, {
      path: '/',
      httpOnly: true,
      sameSite: 'Lax',
      secure: isSecure(c),
      maxAge: 60,
    })
  }
  if (c.req.header('hx-request') === 'true') {
    c.header('HX-Redirect', url)
    return c.body(null, 204)
  }
  return c.redirect(url, 303)
}

/** A positive integer id from the path; anything else is a 404, never a 500. */
export function idParam(c: Ctx, name = 'id'): number {
  const text = c.req.param(name) ?? ''
  // Ids are 32-bit on PostgreSQL: a larger one names nothing.
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > 2 ** 31 - 1) throw new NotFoundError()
  return Number(text)
}

export type Form = Record<string, string | File | (string | File)[]>

export async function readForm(c: Ctx): Promise<Form> {
  return (await c.req.parseBody({ all: true })) as Form
}

/** One text value of a form field (the last one when repeated). */
export function str(form: Form, key: string): string {
  const v = form[key]
  const last = Array.isArray(v) ? v[v.length - 1] : v
  return typeof last === 'string' ? last : ''
}

export function has(form: Form, key: string): boolean {
  return form[key] !== undefined
}

/** Every text value of a repeated field. */
export function all(form: Form, key: string): string[] {
  const v = form[key]
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v]
  return list.filter((x): x is string => typeof x === 'string')
}

export function ids(form: Form, key: string): number[] {
  return all(form, key)
    .filter((x) => /^[1-9]\d{0,15}$/.test(x))
    .map(Number)
}

/** The signed-in tenant; only called behind the /backups guard. */
export function tenantOf(c: Ctx): Tenant {
  const tenant = c.get('auth').tenant
  if (!tenant) throw new Error('tenant route without a tenant session')
  return tenant
}
