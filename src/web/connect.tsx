import { Hono } from 'hono'
import { getCookie, setCookie, deleteCookie } from 'hono/cookie'
import { randomBytes } from 'node:crypto'
import { getOwnDestination, storedValues } from '../db/destinations.ts'
import { guardPolicy } from '../db/settings.ts'
import { mergeDestination } from '../domain/destinations.ts'
import { StorageError } from '../drivers/types.ts'
import { NotFoundError } from '../errors.ts'
import { open, seal } from '../secret-box.ts'
import { ConnectPage } from '../../views/connect.tsx'
import { auditWeb } from './audit-trail.ts'
import {
  type AppEnv,
  type Ctx,
  idParam,
  isSecure,
  pageCtx,
  readForm,
  redirectTo,
  str,
  tenantOf,
} from './context.ts'

/**
 * The sign-in flow of destination types that have one (`entry.connect`), for saved
 * destinations: an OAuth code flow with PKCE whose result the driver turns into a secret.
 * Routes are `/:id/<type>/start`, `/:id/<type>/finish` (a pasted code) and `/<type>/callback`
 * (the service's redirect back, https base URL only).
 */
export const connectRoutes = new Hono<AppEnv>()

type Pending = { destinationId: number; state: string; verifier: string; expires: number }

const cookieOf = (type: string) => `panel_${type}`
const cookiePath = '/backups/destinations'
const context = (c: Ctx, type: string) => `${type}-oauth:${tenantOf(c).id}`

/** The type's sign-in, or NotFound for a type without one. */
function hookOf(c: Ctx, type: string) {
  const entry = c.get('deps').drivers[type]
  if (!entry?.connect) throw new NotFoundError('That destination type')
  return { entry, connect: entry.connect }
}

/** The tenant's destination `id` of `type` (which has a sign-in), with its stored values typed. */
async function destinationOf(c: Ctx, type: string, id: number) {
  const { entry, connect } = hookOf(c, type)
  const dest = await getOwnDestination(c.get('deps').db, tenantOf(c).id, id)
  if (dest.type !== type) throw new NotFoundError(`That ${connect.service} destination`)
  const values = storedValues(c.get('deps').config.secretKey, tenantOf(c).id, dest, entry.settings)
  return { dest, connect, ...values }
}

/** With an https base URL the service can send the tenant back here; otherwise they paste the code. */
function redirectUri(c: Ctx, type: string): string | undefined {
  const base = c.get('deps').config.baseUrl
  return base?.startsWith('https://') ? `${base}/backups/destinations/${type}/callback` : undefined
}

function pending(c: Ctx, type: string): Pending | null {
  const raw = getCookie(c, cookieOf(type))
  if (!raw) return null
  try {
    const p = JSON.parse(open(c.get('deps').config.secretKey, raw, context(c, type))) as Pending
    return p.expires > Date.now() ? p : null
  } catch {
    return null
  }
}

connectRoutes.post('/:id/:type/start', async (c) => {
  const type = c.req.param('type')
  const { dest, connect, settings } = await destinationOf(c, type, idParam(c))
  // The PKCE code verifier (RFC 7636) stays in this browser's sealed cookie until the finish.
  const verifier = randomBytes(48).toString('base64url')
  const p: Pending = {
    destinationId: dest.id,
    state: randomBytes(16).toString('base64url'),
    verifier,
    expires: Date.now() + 15 * 60_000,
  }
  setCookie(
    c,
    cookieOf(type),
    seal(c.get('deps').config.secretKey, JSON.stringify(p), context(c, type)),
    {
      path: cookiePath,
      httpOnly: true,
      sameSite: 'Lax',
      secure: isSecure(c),
      maxAge: 15 * 60,
    },
  )
  const url = connect.authorizeUrl(settings, {
    redirectUri: redirectUri(c, type),
    state: p.state,
    codeVerifier: p.verifier,
  })
  return c.html(
    <ConnectPage
      ctx={pageCtx(c)}
      id={dest.id}
      type={type}
      service={connect.service}
      name={dest.name}
      url={url}
    />,
  )
})

async function finish(
  c: Ctx,
  type: string,
  destinationId: number,
  code: string,
): Promise<string | null> {
  const { connect } = hookOf(c, type)
  const p = pending(c, type)
  if (!p || p.destinationId !== destinationId)
    return `This sign-in took too long or was started elsewhere. Press Connect ${connect.service} again.`
  if (!code.trim()) return `Paste the code ${connect.service} showed you.`
  const deps = c.get('deps')
  const tenant = tenantOf(c)
  const { dest, settings, secrets } = await destinationOf(c, type, destinationId)
  try {
    const opts = {
      redirectUri: redirectUri(c, type),
      codeVerifier: p.verifier,
      guard: await guardPolicy(deps.db),
    }
    const token = await connect.exchange(settings, secrets, code, opts)
    const sd = { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers }
    await mergeDestination(sd, tenant.id, dest.id, { secrets: { [connect.secret]: token } })
  } catch (err) {
    return err instanceof StorageError
      ? err.message
      : `${connect.service} could not be reached. Try again.`
  }
  deleteCookie(c, cookieOf(type), { path: cookiePath })
  await auditWeb(c, `${type}.connect`, { target: dest.name })
  return null
}

connectRoutes.post('/:id/:type/finish', async (c) => {
  const type = c.req.param('type')
  const id = idParam(c)
  const code = str(await readForm(c), 'code')
  const error = await finish(c, type, id, code)
  if (!error)
    return redirectTo(c, `/backups/destinations/${id}`, {
      kind: 'ok',
      text: `${hookOf(c, type).connect.service} connected.`,
    })
  const { dest, connect, settings } = await destinationOf(c, type, id)
  const p = pending(c, type)
  const url = p
    ? connect.authorizeUrl(settings, {
        redirectUri: redirectUri(c, type),
        state: p.state,
        codeVerifier: p.verifier,
      })
    : `/backups/destinations/${id}`
  return c.html(
    <ConnectPage
      ctx={pageCtx(c)}
      id={id}
      type={type}
      service={connect.service}
      name={dest.name}
      url={url}
      error={error}
      code={code}
    />,
    422,
  )
})

/** The service's redirect back (https base URL only); the state ties it to this browser's start. */
connectRoutes.get('/:type/callback', async (c) => {
  const type = c.req.param('type')
  const { connect } = hookOf(c, type)
  const p = pending(c, type)
  if (!p || c.req.query('state') !== p.state)
    throw new NotFoundError(`That ${connect.service} sign-in`)
  const error = c.req.query('error')
    ? `${connect.service} access was not allowed.`
    : await finish(c, type, p.destinationId, c.req.query('code') ?? '')
  const flash = error
    ? { kind: 'error' as const, text: error }
    : { kind: 'ok' as const, text: `${connect.service} connected.` }
  return redirectTo(c, `/backups/destinations/${p.destinationId}`, flash)
})
