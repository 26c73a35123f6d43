import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { sessions, users } from '../../src/db/schema.ts'
import { hashToken } from '../../src/auth/session.ts'
import { ensureAdmin } from '../../src/setup.ts'
import { Client, addTenant, freshDeps, PASSWORD } from '../helpers.ts'

describe('sign-in', async () => {
  const deps = freshDeps()
  await addTenant(deps, 'alice')

  it('sends visitors to /login and tenants to /backups after signing in', async () => {
    const c = new Client(deps)
    expect((await c.get('/')).location).toBe('/login')
    expect((await c.get('/backups/destinations')).location).toBe(
      '/login?next=%2Fbackups%2Fdestinations',
    )
    const res = await c.post('/login', {
      username: 'alice',
      password: PASSWORD,
      next: '/backups/destinations',
    })
    expect(res.status).toBe(303)
    expect(res.location).toBe('/backups/destinations')
    const page = await c.get('/backups')
    expect(page.status).toBe(200)
    expect(page.body).toContain('No backups yet')
  })

  it('sets an HttpOnly, SameSite=Lax session cookie whose token is not stored', async () => {
    const c = new Client(deps)
    await c.get('/login')
    const res = await c.post('/login', { username: 'alice', password: PASSWORD })
    const cookie = res.headers.getSetCookie().find((l) => l.startsWith('panel_session='))!
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Lax/)
    expect(cookie).not.toMatch(/Secure/)
    const token = c.cookies.get('panel_session')!
    const stored = (await deps.db.select().from(sessions)).map((s) => s.id)
    expect(stored).not.toContain(token)
    expect(stored).toContain(hashToken(token))
  })

  it('marks cookies Secure behind an https base URL', async () => {
    const secure = freshDeps({ env: { PANEL_BASE_URL: 'https://panel.example.com' } })
    await addTenant(secure, 'alice')
    const c = new Client(secure)
    await c.get('https://panel.example.com/login')
    const res = await c.post(
      'https://panel.example.com/login',
      { username: 'alice', password: PASSWORD },
      { origin: 'https://panel.example.com' },
    )
    expect(res.status).toBe(303)
    expect(res.headers.getSetCookie().find((l) => l.startsWith('panel_session='))).toMatch(/Secure/)
  })

  it('refuses a wrong password without saying which part was wrong', async () => {
    const c = new Client(deps)
    const bad = await c.post('/login', { username: 'alice', password: 'nope nope nope' })
    expect(bad.status).toBe(401)
    expect(bad.body).toContain('Wrong username or password.')
    expect(bad.body).toContain('value="alice"')
    const ghost = await c.post('/login', { username: 'nobody', password: 'nope nope nope' })
    expect(ghost.body).toContain('Wrong username or password.')
  })

  it('signs out on POST and the old cookie stops working', async () => {
    const c = new Client(deps)
    await c.login('alice')
    const token = c.cookies.get('panel_session')!
    expect((await c.post('/logout', {})).location).toBe('/login')
    const again = new Client(deps)
    again.cookies.set('panel_session', token)
    expect((await again.get('/backups')).location).toMatch(/^\/login/)
    expect((await c.get('/logout')).status).toBe(404)
  })

  it('sends a tenant away from /admin with a 404', async () => {
    const c = new Client(deps)
    await c.login('alice')
    expect((await c.get('/admin/tenants')).status).toBe(404)
    expect(
      (
        await c.post('/admin/tenants', {
          name: 'evil',
          password: 'x'.repeat(12),
          homeDir: '/home/evil',
          timezone: 'UTC',
        })
      ).status,
    ).toBe(404)
  })
})

describe('CSRF', async () => {
  const deps = freshDeps()
  await addTenant(deps, 'alice')
  const c = new Client(deps)
  await c.login('alice')
  const form = { name: 'Nightly', 's.folder': 'backups' }

  it.each([
    ['no Origin header', { origin: null }],
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['no token', { csrf: 'none' }],
    ['a wrong token', { csrf: 'forged-token' }],
  ] as const)('rejects a POST with %s (403), changing nothing', async (_what, opts) => {
    const res = await c.post('/backups/destinations/new/local', form, opts)
    expect(res.status).toBe(403)
    expect((await c.get('/backups/destinations')).body).not.toContain('Nightly')
  })

  it('accepts the token in the htmx header', async () => {
    const res = await c.post('/backups/destinations/new/local', form, {
      csrf: 'header',
      htmx: true,
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('hx-redirect')).toBe('/backups/destinations')
  })

  it('rejects a sign-in POST from another site', async () => {
    const fresh = new Client(deps)
    expect(
      (
        await fresh.post(
          '/login',
          { username: 'alice', password: PASSWORD },
          { origin: 'https://evil.example' },
        )
      ).status,
    ).toBe(403)
  })
})

describe('first start', () => {
  it('prints a one-time link that sets the admin password once', async () => {
    const deps = freshDeps()
    const path = (await ensureAdmin(deps.db))!
    expect(path).toMatch(/^\/login\/link\/[a-z2-7]{32}$/)
    const c = new Client(deps)
    const page = await c.get(path)
    expect(page.body).toContain('Welcome, admin')
    expect((await c.post(path, { password: 'short' })).body).toContain(
      'Use at least 10 characters.',
    )
    const ok = await c.post(path, { password: 'a long admin password' })
    expect(ok.location).toBe('/admin')
    expect((await c.get('/admin/tenants')).status).toBe(200)
    expect((await new Client(deps).get(path)).status).toBe(404)
    expect(await ensureAdmin(deps.db)).toBeNull()
    const admin = (await deps.db.select().from(users).where(eq(users.username, 'admin')))[0]!
    expect(admin.passwordHash).toMatch(/^\$argon2id\$/)
  })
})
