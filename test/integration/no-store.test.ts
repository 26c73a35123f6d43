import { describe, expect, it } from 'vitest'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { createApp } from '../../src/web/app.tsx'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'

/** Every GET page of an area without a path parameter, from the app's own route table. */
function pagesUnder(area: string): string[] {
  const routes = createApp(freshDeps()).routes
  const paths = routes
    .filter((r) => r.method === 'GET' && (r.path === area || r.path.startsWith(area + '/')))
    .map((r) => r.path)
    .filter((p) => !p.includes(':') && !p.includes('*'))
  return [...new Set(paths)]
}

describe('Cache-Control: no-store on signed-in pages', async () => {
  const deps = freshDeps()
  const tenant = await addTenant(deps, 'alice')
  await insertAdmin(deps.db, 'root-admin', await hashPassword(PASSWORD))
  const alice = new Client(deps)
  await alice.login('alice')
  const admin = new Client(deps)
  await admin.login('root-admin')

  const tenantPages = [...pagesUnder('/backups'), '/backups/destinations/new/local']
  const adminPages = [
    ...pagesUnder('/admin'),
    `/admin/tenants/${tenant.id}`,
    `/admin/tenants/${tenant.id}/runs`,
    `/admin/tenants/${tenant.id}/disable`,
    '/admin/destinations/new/local',
  ]

  it('walks enough pages to mean something', () => {
    expect(tenantPages).toEqual(
      expect.arrayContaining(['/backups', '/backups/restore', '/backups/access']),
    )
    expect(adminPages).toEqual(expect.arrayContaining(['/admin/tenants', '/admin/audit']))
    expect(tenantPages.length + adminPages.length).toBeGreaterThan(25)
  })

  it.each([
    ...tenantPages.map((p) => ['alice', p] as const),
    ...adminPages.map((p) => ['root-admin', p] as const),
  ])('%s: %s, as a page and as an htmx fragment', async (who, path) => {
    const c = who === 'alice' ? alice : admin
    const variants: Record<string, string>[] = [{}, { 'hx-request': 'true' }]
    for (const headers of variants) {
      const res = await c.get(path, { ...headers })
      expect(res.location ?? '', 'still signed in').not.toMatch(/^\/login/)
      expect(res.status).toBeLessThan(400)
      expect(res.headers.get('cache-control'), `${path} ${JSON.stringify(headers)}`).toBe(
        'no-store',
      )
    }
  })

  it('on the sign-in page and its answers', async () => {
    const c = new Client(deps)
    expect((await c.get('/login')).headers.get('cache-control')).toBe('no-store')
    const wrong = await c.post('/login', { username: 'alice', password: 'wrong' })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('cache-control')).toBe('no-store')
  })

  it('but not on static files, which may be cached', async () => {
    for (const path of ['/public/css/app.css', '/public/vendor/htmx.min.js']) {
      const res = await alice.get(path)
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control') ?? '').not.toContain('no-store')
    }
  })

  it('after Sign out, a protected page needs a new sign-in', async () => {
    const c = new Client(deps)
    await c.login('alice')
    expect((await c.get('/backups/restore')).status).toBe(200)
    const out = await c.post('/logout', {})
    expect(out.location).toBe('/login')
    const again = await c.get('/backups/restore')
    expect(again.location).toMatch(/^\/login/)
    expect(again.headers.get('cache-control')).toBe('no-store')
  })
})
