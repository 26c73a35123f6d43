import { describe, expect, it } from 'vitest'
import { hashPassword } from '../../src/auth/password.ts'
import { findTenantByName, listTenantDatabases } from '../../src/db/tenants.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { Client, PASSWORD, freshDeps } from '../helpers.ts'

describe('admin tenant pages', async () => {
  const deps = freshDeps()
  await insertAdmin(deps.db, 'root-admin', await hashPassword(PASSWORD))
  const admin = new Client(deps)
  await admin.login('root-admin')
  const form = {
    name: 'carol',
    password: 'carol password 1',
    homeDir: '/home/carol',
    systemUser: 'carol',
    timezone: 'Europe/Lisbon',
  }

  it('lands on the tenants list', async () => {
    expect((await admin.get('/admin')).location).toBe('/admin/tenants')
    expect((await admin.get('/admin/tenants')).body).toContain('No tenants yet')
  })

  it('refuses bad names, paths and passwords beside each field, keeping the rest', async () => {
    const res = await admin.post('/admin/tenants', {
      ...form,
      name: '../Carol',
      homeDir: 'home/carol',
      password: 'short',
    })
    expect(res.status).toBe(422)
    expect(res.body).toContain('Use 2-32 characters')
    expect(res.body).toContain('Use an absolute path')
    expect(res.body).toContain('Use at least 10 characters.')
    expect(res.body).toContain('value="carol"')
    expect(res.body).not.toContain('short')
    expect(await findTenantByName(deps.db, 'carol')).toBeUndefined()
  })

  it('adds a tenant who can then sign in', async () => {
    const res = await admin.post('/admin/tenants', form)
    const tenant = (await findTenantByName(deps.db, 'carol'))!
    expect(res.location).toBe(`/admin/tenants/${tenant.id}`)
    expect(tenant).toMatchObject({
      homeDir: '/home/carol',
      systemUser: 'carol',
      timezone: 'Europe/Lisbon',
    })
    expect((await admin.get('/admin/tenants')).body).toContain('/home/carol')
    expect((await admin.post('/admin/tenants', form)).body).toContain('is already taken')
    const carol = new Client(deps)
    expect((await carol.login('carol', form.password)).location).toBe('/backups')
  })

  it('edits a tenant, assigns and removes databases', async () => {
    const tenant = (await findTenantByName(deps.db, 'carol'))!
    await admin.post(`/admin/tenants/${tenant.id}`, {
      homeDir: '/srv/carol',
      systemUser: '',
      timezone: 'UTC',
      password: '',
    })
    expect(await findTenantByName(deps.db, 'carol')).toMatchObject({
      homeDir: '/srv/carol',
      systemUser: null,
      timezone: 'UTC',
    })
    const frag = await admin.post(
      `/admin/tenants/${tenant.id}/databases`,
      { engine: 'postgresql', name: 'carol_db' },
      { htmx: true },
    )
    expect(frag.body).toContain('carol_db')
    const bad = await admin.post(
      `/admin/tenants/${tenant.id}/databases`,
      { engine: 'mariadb', name: 'x; drop' },
      { htmx: true },
    )
    expect(bad.body).toContain('Use 1-64 characters')
    const [dbRow] = await listTenantDatabases(deps.db, tenant.id)
    expect(dbRow).toMatchObject({ engine: 'postgresql', name: 'carol_db' })
    await admin.post(`/admin/tenants/${tenant.id}/databases/${dbRow!.id}/delete`, {
      confirm: 'yes',
    })
    expect(await listTenantDatabases(deps.db, tenant.id)).toEqual([])
  })

  it('disabling a tenant signs them out and blocks sign-in', async () => {
    const tenant = (await findTenantByName(deps.db, 'carol'))!
    const carol = new Client(deps)
    await carol.login('carol', form.password)
    expect((await carol.get('/backups')).status).toBe(200)
    // One click only opens the confirmation page (a bare POST lands there too).
    const page = await admin.get(`/admin/tenants/${tenant.id}`)
    expect(page.body).toContain(`href="/admin/tenants/${tenant.id}/disable"`)
    const bare = await admin.post(`/admin/tenants/${tenant.id}/disable`, {})
    expect(bare.location).toBe(`/admin/tenants/${tenant.id}/disable`)
    expect((await carol.get('/backups')).status).toBe(200)
    const confirm = await admin.get(`/admin/tenants/${tenant.id}/disable`)
    expect(confirm.body).toContain('cannot sign in')
    await admin.post(`/admin/tenants/${tenant.id}/disable`, { confirm: 'yes' })
    expect((await carol.get('/backups')).location).toMatch(/^\/login/)
    const again = await new Client(deps).post('/login', {
      username: 'carol',
      password: form.password,
    })
    expect(again.body).toContain('This account is disabled')
    await admin.post(`/admin/tenants/${tenant.id}/enable`, {})
    expect((await new Client(deps).login('carol', form.password)).location).toBe('/backups')
  })

  it('refuses a second tenant with the same home or system user, and names the owner', async () => {
    const carol = (await findTenantByName(deps.db, 'carol'))!
    await admin.post(`/admin/tenants/${carol.id}`, {
      homeDir: '/home/carol',
      systemUser: 'carol',
      timezone: 'UTC',
      password: '',
    })
    const res = await admin.post('/admin/tenants', { ...form, name: 'dave' })
    expect(res.status).toBe(422)
    expect(res.body).toContain('Tenant “carol” already has this home folder.')
    expect(res.body).toContain('Tenant “carol” already runs as this system user.')
    expect(await findTenantByName(deps.db, 'dave')).toBeUndefined()
  })

  it('warns on the tenant page when the home or the system user does not exist', async () => {
    const tenant = (await findTenantByName(deps.db, 'carol'))!
    const page = await admin.get(`/admin/tenants/${tenant.id}`)
    expect(page.body).toContain('The home folder /home/carol does not exist on this server')
    expect(page.body).toContain('The system user “carol” does not exist on this server')
  })

  it('refuses a database another tenant already has', async () => {
    const carol = (await findTenantByName(deps.db, 'carol'))!
    await admin.post(`/admin/tenants/${carol.id}/databases`, {
      engine: 'mariadb',
      name: 'shared_db',
    })
    await admin.post('/admin/tenants', {
      ...form,
      name: 'erin',
      homeDir: '/home/erin',
      systemUser: 'erin',
    })
    const erin = (await findTenantByName(deps.db, 'erin'))!
    const res = await admin.post(
      `/admin/tenants/${erin.id}/databases`,
      { engine: 'mariadb', name: 'shared_db' },
      { htmx: true },
    )
    expect(res.body).toContain('“shared_db” is already assigned to tenant “carol”.')
    expect(await listTenantDatabases(deps.db, erin.id)).toHaveLength(0)
  })

  it('removes a tenant only after its name is typed on the confirmation page', async () => {
    const erin = (await findTenantByName(deps.db, 'erin'))!
    const page = await admin.get(`/admin/tenants/${erin.id}/remove`)
    expect(page.body).toContain('are not touched')
    const wrong = await admin.post(`/admin/tenants/${erin.id}/remove`, { confirmName: 'erin2' })
    expect(wrong.status).toBe(422)
    expect(wrong.body).toContain('Type erin exactly to confirm.')
    expect(await findTenantByName(deps.db, 'erin')).toBeDefined()
    const done = await admin.post(`/admin/tenants/${erin.id}/remove`, { confirmName: 'erin' })
    expect(done.location).toBe('/admin/tenants')
    expect(await findTenantByName(deps.db, 'erin')).toBeUndefined()
  })

  it('an admin has no tenant pages', async () => {
    expect((await admin.get('/backups')).location).toBe('/admin')
  })
})
