import { describe, expect, it } from 'vitest'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { getAdminSettings, guardPolicy } from '../../src/db/settings.ts'
import { drivers, type Registry } from '../../src/drivers/registry.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'

describe('admin policy limits', async () => {
  const registry: Registry = { ...drivers, other: { ...drivers.local, label: 'Other' } }
  const deps = freshDeps({ drivers: registry })
  await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
  await addTenant(deps, 'alice')
  const admin = new Client(deps)
  await admin.login('boss')
  const tenant = new Client(deps)
  await tenant.login('alice')

  it('starts with every type allowed and an empty allowlist', async () => {
    const page = (await admin.get('/admin/settings')).body
    expect(page.match(/name="types" value="\w+" checked/g)).toHaveLength(
      Object.keys(registry).length,
    )
    expect(await guardPolicy(deps.db, {})).toEqual({ allow: [] })
  })

  it('refuses a bad allowlist entry beside the field and keeps the text', async () => {
    const res = await admin.post('/admin/settings', {
      types: ['local'],
      allowlist: '10.0.5.0/24\nnot a host!',
    })
    expect(res.status).toBe(422)
    expect(res.body).toContain('“not a host!” is not a host name or address.')
    expect(res.body).toContain('10.0.5.0/24\nnot a host!')
    expect((await getAdminSettings(deps.db)).allowedTypes).toBeNull()
  })

  it('limits the types tenants may add and feeds the outbound guard', async () => {
    await admin.post('/admin/settings', { types: ['local'], allowlist: 'backup.lan\n10.0.5.0/24' })
    expect(await getAdminSettings(deps.db)).toMatchObject({
      allowedTypes: ['local'],
      outboundAllow: ['backup.lan', '10.0.5.0/24'],
    })
    expect((await guardPolicy(deps.db, { PANEL_OUTBOUND_ALLOW: '127.0.0.1' })).allow).toEqual([
      'backup.lan',
      '10.0.5.0/24',
      '127.0.0.1',
    ])
    const picker = (await tenant.get('/backups/destinations/new')).body
    expect(picker).toContain('/backups/destinations/new/local')
    expect(picker).not.toContain('/backups/destinations/new/other')
    expect((await tenant.get('/backups/destinations/new/other')).status).toBe(409)
    const post = await tenant.post('/backups/destinations/new/other', {
      name: 'X',
      's.folder': 'x',
    })
    expect(post.status).toBe(409)
    expect(post.body).toContain('does not allow this destination type')
    expect((await tenant.get('/backups/destinations/new/nope')).status).toBe(404)
  })

  it('is admin-only', async () => {
    expect((await tenant.get('/admin/settings')).status).toBe(404)
    expect((await tenant.post('/admin/settings', { types: ['local', 'other'] })).status).toBe(404)
  })
})
