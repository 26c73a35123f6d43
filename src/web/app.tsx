import { Hono } from 'hono'
import { secureHeaders } from 'hono/secure-headers'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { serveStatic } from '@hono/node-server/serve-static'
import { createRequire } from 'node:module'
import { inProject, projectRoot } from '../project-root.ts'
import {
  CSRF_COOKIE,
  CSRF_FIELD,
  CSRF_HEADER,
  csrfToken,
  csrfTokenMatches,
  newCsrfSecret,
  sameOrigin,
} from '../auth/csrf.ts'
import { validateSessionToken } from '../auth/session.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import { ErrorPage } from '../../views/error.tsx'
import {
  type AppEnv,
  type Ctx,
  type Deps,
  isSecure,
  pageCtx,
  readForm,
  requestOrigin,
  str,
} from './context.ts'
import { SESSION_COOKIE, authRoutes } from './auth.tsx'
import { adminRoutes } from './admin.tsx'
import { adminAuditRoutes } from './admin-audit.tsx'
import { adminEscrowRoutes } from './admin-escrow.tsx'
import { metricsRoutes } from './metrics.ts'
import { tenantRoutes } from './tenant.tsx'
import { apiRoutes } from './api/index.ts'
import { healthRoutes } from './healthz.ts'
import { brandRoutes } from './brand.ts'
import { logoOrigin } from '../brand.ts'

const htmxPath = createRequire(inProject('package.json')).resolve('htmx.org/dist/htmx.min.js')
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export class ForbiddenError extends Error {}

/** The whole web panel. Dependencies come in so tests can use a fresh database per file. */
export function createApp(deps: Deps) {
  const app = new Hono<AppEnv>()
  const logo = logoOrigin(deps.config.brand)

  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // A brand logo given as a URL (PANEL_BRAND_LOGO) loads from its own origin.
        imgSrc: ["'self'", 'data:', ...(logo ? [logo] : [])],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
      referrerPolicy: 'same-origin',
    }),
  )
  app.get('/public/vendor/htmx.min.js', serveStatic({ path: htmxPath }))
  app.use('/public/*', serveStatic({ root: projectRoot }))
  // Before the session and CSRF middleware: a probe gets no cookie and reads no session.
  app.route('/healthz', healthRoutes(deps))
  app.route('/', brandRoutes(deps))

  app.use('*', async (c, next) => {
    c.set('deps', deps)
    // The JSON API reads no cookies (Bearer key only), so neither CSRF nor sessions apply there.
    if (isApiPath(c.req.path)) return next()
    const key = deps.config.secretKey
    let secret = getCookie(c, CSRF_COOKIE)
    const fresh = !secret
    if (!secret) {
      secret = newCsrfSecret()
      setCookie(c, CSRF_COOKIE, secret, {
        path: '/',
        httpOnly: true,
        sameSite: 'Lax',
        secure: isSecure(c),
      })
    }
    c.set('csrf', csrfToken(key, secret))
    if (!SAFE_METHODS.has(c.req.method)) {
      const origin = deps.config.baseUrl ?? requestOrigin(c)
      if (!sameOrigin(origin, c.req.header('origin'), c.req.header('referer'))) {
        throw new ForbiddenError('This request did not come from the panel’s own pages.')
      }
      const token = c.req.header(CSRF_HEADER) ?? str(await readForm(c), CSRF_FIELD)
      if (fresh || !token || !csrfTokenMatches(key, secret, token)) {
        throw new ForbiddenError('This form has expired. Reload the page and try again.')
      }
    }
    const token = getCookie(c, SESSION_COOKIE)
    const auth = token
      ? await validateSessionToken(deps.db, token)
      : ({ session: null, user: null, tenant: null } as const)
    if (token && !auth.session) deleteCookie(c, SESSION_COOKIE, { path: '/' })
    if (token && auth.session) {
      setCookie(c, SESSION_COOKIE, token, {
        path: '/',
        httpOnly: true,
        sameSite: 'Lax',
        secure: isSecure(c),
        expires: auth.session.expiresAt,
      })
    }
    c.set('auth', auth)
    await next()
    // The same URL answers a fragment to htmx and a page otherwise: caches must keep both apart.
    c.res.headers.append('Vary', 'HX-Request')
    // Pages hold tenants' data: after Sign out, Back must not show them from the browser's cache.
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store')
  })

  app.get('/', (c) => {
    const { user } = c.get('auth')
    return c.redirect(!user ? '/login' : user.role === 'admin' ? '/admin' : '/backups')
  })
  app.route('/', authRoutes)
  app.route('/admin', adminRoutes)
  app.route('/admin/audit', adminAuditRoutes)
  app.route('/admin/recovery-kits', adminEscrowRoutes)
  app.route('/metrics', metricsRoutes)
  app.route('/backups', tenantRoutes)
  app.route('/api/v1', apiRoutes(deps))

  app.notFound((c) => errorPage(c as Ctx, 404, 'That page does not exist or is not yours.'))
  app.onError((err, c) => {
    const ctx = c as Ctx
    if (err instanceof NotFoundError) return errorPage(ctx, 404, err.message)
    if (err instanceof ForbiddenError) return errorPage(ctx, 403, err.message)
    if (err instanceof ConflictError) return errorPage(ctx, 409, err.message)
    if (err instanceof InputError) return errorPage(ctx, 422, err.message)
    console.error(`[web] ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`)
    return errorPage(ctx, 500, 'The panel hit an unexpected error. It has been logged; try again.')
  })
  return app
}

function isApiPath(path: string): boolean {
  return path === '/api/v1' || path.startsWith('/api/v1/')
}

function errorPage(c: Ctx, status: number, message: string) {
  if (!c.get('csrf')) c.set('csrf', '')
  if (!c.get('auth')) c.set('auth', { session: null, user: null, tenant: null })
  if (c.req.header('hx-request') === 'true') {
    return c.html(
      <div class="flash flash-error" role="alert">
        {message}
      </div>,
      status as 404,
    )
  }
  return c.html(<ErrorPage ctx={pageCtx(c)} status={status} message={message} />, status as 404)
}
