import { Hono } from 'hono'
import { deleteCookie, setCookie } from 'hono/cookie'
import { CSRF_COOKIE, newCsrfSecret } from '../auth/csrf.ts'
import { passwordProblem, hashPassword, verifyPassword } from '../auth/password.ts'
import { createSession, generateSessionToken, invalidateSession } from '../auth/session.ts'
import { admitAttempt, attemptSucceeded, waitMessage, waitSeconds } from '../auth/throttle.ts'
import { findUserByName, setPasswordHash } from '../db/users.ts'
import { consumeLoginLink, peekLoginLink } from '../auth/login-link.ts'
import { getTenant } from '../db/tenants.ts'
import { LoginPage, SetPasswordPage } from '../../views/login.tsx'
import { ErrorPage } from '../../views/error.tsx'
import {
  type AppEnv,
  type Ctx,
  clientIp,
  isSecure,
  pageCtx,
  readForm,
  redirectTo,
  str,
} from './context.ts'
import { audit } from '../db/audit.ts'
import type { User } from '../db/schema.ts'

export const SESSION_COOKIE = 'panel_session'

export const authRoutes = new Hono<AppEnv>()

/**
 * Records a sign-in attempt under the account it matched. A name that matches no account is not
 * kept: people type their password into the name field, and the audit log must never hold one.
 */
async function auditLogin(
  c: Ctx,
  action: 'login.ok' | 'login.failed',
  username: string,
  user?: User,
  reason?: string,
): Promise<void> {
  await audit(c.get('deps').db, {
    actor: user ? user.username : username ? '(unknown user)' : '(blank)',
    userId: user?.id ?? null,
    tenantId: user?.tenantId ?? null,
    action,
    ip: clientIp(c),
    details: reason ? { reason } : null,
  })
}

function homeOf(user: User): string {
  return user.role === 'admin' ? '/admin' : '/backups'
}

/** Only same-site paths, so `next` cannot send a signed-in user elsewhere. */
function safeNext(next: string, user: User): string {
  if (!/^\/(?![/\\])/.test(next)) return homeOf(user)
  const area = user.role === 'admin' ? '/admin' : '/backups'
  return next.startsWith(area) ? next : homeOf(user)
}

/** Starts a session and rotates the CSRF secret so a pre-login token is useless after. */
async function signIn(c: Ctx, user: User): Promise<void> {
  const token = generateSessionToken()
  const session = await createSession(c.get('deps').db, token, user.id)
  const secure = isSecure(c)
  setCookie(c, SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'Lax',
    secure,
    expires: session.expiresAt,
  })
  setCookie(c, CSRF_COOKIE, newCsrfSecret(), { path: '/', httpOnly: true, sameSite: 'Lax', secure })
}

authRoutes.get('/login', (c) => {
  const { user } = c.get('auth')
  if (user) return c.redirect(homeOf(user))
  return c.html(<LoginPage ctx={pageCtx(c)} next={c.req.query('next')} />)
})

/**
 * Sign-in, throttled (auth/throttle.ts): while a wait is due the password is not checked and the
 * answer is 429 with Retry-After and the wait in words, the form kept.
 */
authRoutes.post('/login', async (c) => {
  const { db, now = Date.now } = c.get('deps')
  const form = await readForm(c)
  const username = str(form, 'username').trim().toLowerCase()
  const password = str(form, 'password')
  const next = str(form, 'next')
  const address = clientIp(c)
  const render = (error: string, status: 401 | 403 | 429) =>
    c.html(<LoginPage ctx={pageCtx(c)} username={username} error={error} next={next} />, status)

  const wait = await admitAttempt(db, username, address, now())
  const user = username ? await findUserByName(db, username) : undefined
  if (wait > 0) {
    await auditLogin(c, 'login.failed', username, user, 'throttled')
    c.header('Retry-After', String(waitSeconds(wait)))
    return render(waitMessage(wait), 429)
  }
  const ok = await verifyPassword(user?.passwordHash ?? null, password)
  if (!user || !ok) {
    await auditLogin(c, 'login.failed', username, user, user ? 'wrong password' : 'unknown user')
    return render('Wrong username or password.', 401)
  }
  await attemptSucceeded(db, username, address, now())
  if (user.tenantId && (await getTenant(db, user.tenantId)).disabled) {
    await auditLogin(c, 'login.failed', username, user, 'disabled')
    return render('This account is disabled. Contact your hosting provider.', 403)
  }
  await signIn(c, user)
  await auditLogin(c, 'login.ok', username, user)
  return redirectTo(c, safeNext(next, user))
})

authRoutes.post('/logout', async (c) => {
  const { session, user } = c.get('auth')
  if (session) {
    await invalidateSession(c.get('deps').db, session.id)
    await audit(c.get('deps').db, {
      actor: user.username,
      userId: user.id,
      tenantId: user.tenantId,
      action: 'logout',
      ip: clientIp(c),
    })
  }
  deleteCookie(c, SESSION_COOKIE, { path: '/' })
  setCookie(c, CSRF_COOKIE, newCsrfSecret(), {
    path: '/',
    httpOnly: true,
    sameSite: 'Lax',
    secure: isSecure(c),
  })
  return redirectTo(c, '/login')
})

const expiredLink =
  'This sign-in link has expired or was already used. Ask the administrator for a new one (npx panel admin link).'

authRoutes.get('/login/link/:token', async (c) => {
  const user = await peekLoginLink(c.get('deps').db, c.req.param('token'))
  if (!user) return c.html(<ErrorPage ctx={pageCtx(c)} status={404} message={expiredLink} />, 404)
  return c.html(
    <SetPasswordPage ctx={pageCtx(c)} token={c.req.param('token')} username={user.username} />,
  )
})

authRoutes.post('/login/link/:token', async (c) => {
  const { db } = c.get('deps')
  const token = c.req.param('token')
  const password = str(await readForm(c), 'password')
  const problem = passwordProblem(password)
  const pending = await peekLoginLink(db, token)
  if (!pending)
    return c.html(<ErrorPage ctx={pageCtx(c)} status={404} message={expiredLink} />, 404)
  if (problem) {
    return c.html(
      <SetPasswordPage
        ctx={pageCtx(c)}
        token={token}
        username={pending.username}
        error={problem}
      />,
      422,
    )
  }
  const hash = await hashPassword(password)
  const user = await consumeLoginLink(db, token)
  if (!user) return c.html(<ErrorPage ctx={pageCtx(c)} status={404} message={expiredLink} />, 404)
  await setPasswordHash(db, user.id, hash)
  await signIn(c, user)
  await audit(db, {
    actor: user.username,
    userId: user.id,
    tenantId: user.tenantId,
    action: 'login.link',
    ip: clientIp(c),
  })
  return redirectTo(c, homeOf(user), { kind: 'ok', text: 'Password saved. You are signed in.' })
})
