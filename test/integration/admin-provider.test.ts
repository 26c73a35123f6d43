import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { hashPassword } from '../../src/auth/password.ts'
import { listDestinations } from '../../src/db/destinations.ts'
import { listPolicies } from '../../src/db/policies.ts'
import {
  listProviderDestinations,
  readProviderSecrets,
} from '../../src/db/provider-destinations.ts'
import { listProviderPolicies } from '../../src/db/provider-policies.ts'
import { auditLog } from '../../src/db/schema.ts'
import { setAdminSetting } from '../../src/db/settings.ts'
import { findTenantByName } from '../../src/db/tenants.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { saveProviderDestination } from '../../src/domain/provider-destinations.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { requireSshd, startSshd, type SshServer } from '../services/sshd.ts'

/** The new-policy form as a browser sends it, with `destinations` filled in by the test. */
const policyForm = (destinations: string[]) => ({
  name: 'Nightly for everyone',
  enabled: 'on',
  scope: 'all',
  plan: '',
  includeHome: 'on',
  exclude: '**/cache/**',
  includeDatabases: 'on',
  destinations,
  windowStart: '01:00',
  windowEnd: '05:00',
  keepLast: '0',
  keepDaily: '7',
  keepWeekly: '4',
  keepMonthly: '12',
  keepYearly: '0',
})

const auditActions = async (deps: ReturnType<typeof freshDeps>) =>
  (await deps.db.select({ action: auditLog.action }).from(auditLog).orderBy(auditLog.id)).map(
    (r) => r.action,
  )

describe('Admin provider destinations and backup policies', async () => {
  const deps = freshDeps()
  await insertAdmin(deps.db, 'root-admin', await hashPassword(PASSWORD))
  const admin = new Client(deps)
  await admin.login('root-admin')
  const early = await addTenant(deps, 'early')
  const tenant = new Client(deps)
  await tenant.login('early')

  it('points to Destinations while there is none', async () => {
    expect((await admin.get('/admin/policies')).body).toContain('href="/admin/destinations"')
    expect((await admin.get('/admin/policies/new')).body).toContain(
      'href="/admin/destinations/new"',
    )
    expect((await admin.get('/admin/destinations')).body).toContain('No destinations yet')
  })

  it('offers every destination type, whatever tenants are allowed', async () => {
    await setAdminSetting(deps.db, 'allowedTypes', ['s3'])
    const picker = await admin.get('/admin/destinations/new')
    for (const type of Object.keys(deps.drivers))
      expect(picker.body).toContain(`href="/admin/destinations/new/${type}"`)
    expect((await admin.get('/admin/destinations/new/local')).body).toContain(
      'action="/admin/destinations/new/local"',
    )
  })

  it('keeps typed values and shows the field error on a bad destination form', async () => {
    const res = await admin.post('/admin/destinations/new/local', {
      name: 'Host disk',
      's.folder': '../../etc',
    })
    expect(res.status).toBe(422)
    expect(res.body).toContain('id="f-s-folder-error"')
    expect(res.body).toContain('value="Host disk"')
    expect(res.body).toContain('value="../../etc"')
    const frag = await admin.post(
      '/admin/destinations/new/local',
      { name: '', 's.folder': 'x' },
      { htmx: true },
    )
    expect(frag.status).toBe(422)
    expect(frag.body).not.toContain('<html')
    expect(frag.body).toContain('id="f-name-error"')
    expect(await listProviderDestinations(deps.db)).toEqual([])
  })

  it('adds a Local destination and tests it as the host', async () => {
    const res = await admin.post('/admin/destinations/new/local', {
      name: 'Host disk',
      's.folder': 'nightly',
    })
    expect(res.location).toBe('/admin/destinations')
    const [dest] = await listProviderDestinations(deps.db)
    expect(dest).toMatchObject({
      name: 'Host disk',
      type: 'local',
      settings: { folder: 'nightly' },
    })
    const list = await admin.get('/admin/destinations')
    expect(list.body).toContain('Destination “Host disk” added.')
    expect(list.body).toContain('Folder: nightly')
    const test = await admin.post(
      `/admin/destinations/${dest!.id}/test`,
      { name: 'Host disk', 's.folder': 'nightly' },
      { htmx: true },
    )
    expect(test.body).toContain('Test passed.')
    expect(existsSync(join(deps.config.localRoot, '_panel', 'nightly'))).toBe(true)
  })

  it('never renders a stored secret back', async () => {
    const SECRET = 'dav-pa55word-never-shown'
    const res = await admin.post('/admin/destinations/new/webdav', {
      name: 'Offsite',
      's.url': 'https://dav.example.com/remote.php/dav',
      's.path': 'panel',
      's.username': 'host',
      's.password': SECRET,
    })
    expect(res.status).toBe(303)
    const dav = (await listProviderDestinations(deps.db)).find((d) => d.name === 'Offsite')!
    expect(readProviderSecrets(deps.config.secretKey, dav).password).toBe(SECRET)
    const edit = await admin.get(`/admin/destinations/${dav.id}`)
    expect(edit.body).toContain('action="/admin/destinations/')
    expect(edit.body).toContain('stored (leave blank to keep)')
    expect(edit.body).not.toContain(SECRET)
    const bad = await admin.post(`/admin/destinations/${dav.id}`, {
      name: 'Offsite',
      's.url': '',
      's.path': 'panel',
      's.username': 'host',
      's.password': '',
    })
    expect(bad.status).toBe(422)
    expect(bad.body).not.toContain(SECRET)
    expect(bad.body).toContain('URL is required.')
    await admin.post(`/admin/destinations/${dav.id}`, {
      name: 'Offsite',
      's.url': 'https://dav2.example.com/remote.php/dav',
      's.path': 'panel',
      's.username': 'host',
      's.password': '',
    })
    const after = (await listProviderDestinations(deps.db)).find((d) => d.name === 'Offsite')!
    expect(after.settings.url).toBe('https://dav2.example.com/remote.php/dav')
    expect(readProviderSecrets(deps.config.secretKey, after).password).toBe(SECRET)
    expect((await admin.get('/admin/destinations')).body).not.toContain(SECRET)
  })

  it('creates a policy through the form; tenants, old and new, get its copy', async () => {
    const dest = (await listProviderDestinations(deps.db)).find((d) => d.name === 'Host disk')!
    const empty = await admin.get('/admin/policies/new')
    expect(empty.body).toContain('value="7"')
    expect(empty.body).toContain('name="destinations"')
    const bad = await admin.post('/admin/policies', {
      ...policyForm([]),
      scope: 'plan',
      windowStart: '25:00',
    })
    expect(bad.status).toBe(422)
    expect(bad.body).toContain('id="f-plan-error"')
    expect(bad.body).toContain('id="f-windowStart-error"')
    expect(bad.body).toContain('id="f-destinations-error"')
    expect(bad.body).toContain('value="Nightly for everyone"')
    expect(bad.body).toContain('**/cache/**')
    expect(await listProviderPolicies(deps.db)).toEqual([])

    const res = await admin.post('/admin/policies', policyForm([String(dest.id)]))
    expect(res.location).toBe('/admin/policies')
    const list = await admin.get('/admin/policies')
    expect(list.body).toContain('It now covers 1 tenant.')
    expect(list.body).toContain('All tenants')
    expect(list.body).toContain('Daily, each tenant starting between 01:00 and 05:00')
    expect(list.body).toContain('Keeps 7 daily, 4 weekly')
    expect((await listPolicies(deps.db, early.id)).map((p) => p.name)).toEqual([
      'Nightly for everyone',
    ])

    const made = await admin.post('/admin/tenants', {
      name: 'later',
      password: 'later password 1',
      homeDir: '/home/later',
      systemUser: '',
      timezone: 'UTC',
      plan: 'Business',
    })
    const later = (await findTenantByName(deps.db, 'later'))!
    expect(made.location).toBe(`/admin/tenants/${later.id}`)
    expect(later.plan).toBe('Business')
    expect((await admin.get(`/admin/tenants/${later.id}`)).body).toContain('Plan “Business”')
    const copy = await listPolicies(deps.db, later.id)
    expect(copy).toHaveLength(1)
    expect(copy[0]!.providerPolicyId).toBe((await listProviderPolicies(deps.db))[0]!.id)
    expect((await listDestinations(deps.db, later.id))[0]!.providerDestinationId).toBe(dest.id)
    const destinations = await admin.get('/admin/destinations')
    expect(destinations.body).toMatch(/Nightly for everyone<\/dd>[\s\S]*?<dd>2 tenants<\/dd>/)
  })

  it('targets a plan: only tenants on it are covered', async () => {
    const dest = (await listProviderDestinations(deps.db)).find((d) => d.name === 'Offsite')!
    await admin.post('/admin/policies', {
      ...policyForm([String(dest.id)]),
      name: 'Business offsite',
      scope: 'plan',
      plan: 'Business',
    })
    const list = await admin.get('/admin/policies')
    expect(list.body).toContain('Policy “Business offsite” created. It now covers 1 tenant.')
    expect(list.body).toContain('Plan “Business”')
    const later = (await findTenantByName(deps.db, 'later'))!
    expect(await listPolicies(deps.db, later.id)).toHaveLength(2)
    expect(await listPolicies(deps.db, early.id)).toHaveLength(1)
  })

  it('edits a policy: the form shows what is stored and saving keeps the tenants’ copies in step', async () => {
    const policy = (await listProviderPolicies(deps.db)).find((p) => p.name === 'Business offsite')!
    const edit = await admin.get(`/admin/policies/${policy.id}`)
    expect(edit.body).toContain('value="Business"')
    expect(edit.body).toMatch(/value="plan"[^>]*checked|checked[^>]*value="plan"/)
    await admin.post(`/admin/policies/${policy.id}`, {
      ...policyForm(policy.destinations.map((d) => String(d.id))),
      name: 'Business offsite',
      scope: 'plan',
      plan: 'Business',
      keepYearly: '3',
    })
    expect((await listProviderPolicies(deps.db)).find((p) => p.id === policy.id)!.keepYearly).toBe(
      3,
    )
    const later = (await findTenantByName(deps.db, 'later'))!
    const copy = (await listPolicies(deps.db, later.id)).find(
      (p) => p.providerPolicyId === policy.id,
    )!
    expect(copy.keepYearly).toBe(3)
  })

  it('refuses to delete a destination while a policy uses it, in plain words', async () => {
    const dest = (await listProviderDestinations(deps.db)).find((d) => d.name === 'Host disk')!
    const res = await admin.post(`/admin/destinations/${dest.id}/delete`, { confirm: 'yes' })
    expect(res.location).toBe('/admin/destinations')
    const page = await admin.get('/admin/destinations')
    expect(page.body).toContain(
      'cannot be deleted: the backup policy “Nightly for everyone” sends backups there',
    )
    expect((await listProviderDestinations(deps.db)).some((d) => d.id === dest.id)).toBe(true)
  })

  it('deletes a policy only after confirming', async () => {
    const policy = (await listProviderPolicies(deps.db)).find(
      (p) => p.name === 'Nightly for everyone',
    )!
    const confirm = await admin.get(`/admin/policies/${policy.id}/delete`)
    expect(confirm.body).toContain('name="confirm" value="yes"')
    const unconfirmed = await admin.post(`/admin/policies/${policy.id}/delete`, {})
    expect(unconfirmed.location).toBe(`/admin/policies/${policy.id}/delete`)
    expect(await listProviderPolicies(deps.db)).toHaveLength(2)
    await admin.post(`/admin/policies/${policy.id}/delete`, { confirm: 'yes' })
    expect((await listProviderPolicies(deps.db)).map((p) => p.name)).toEqual(['Business offsite'])
    expect(await listPolicies(deps.db, early.id)).toEqual([])
    const dest = (await listProviderDestinations(deps.db)).find((d) => d.name === 'Host disk')!
    await admin.post(`/admin/destinations/${dest.id}/delete`, { confirm: 'yes' })
    expect((await listProviderDestinations(deps.db)).map((d) => d.name)).toEqual(['Offsite'])
  })

  it('refuses a POST without the CSRF token', async () => {
    const res = await admin.post('/admin/policies', policyForm([]), { csrf: 'none' })
    expect(res.status).toBe(403)
    const del = await admin.post('/admin/destinations/1/delete', {}, { csrf: 'none' })
    expect(del.status).toBe(403)
  })

  it('records every change in the audit log', async () => {
    const actions = await auditActions(deps)
    for (const a of [
      'provider-destination.create',
      'provider-destination.update',
      'provider-destination.test',
      'provider-destination.delete',
      'provider-policy.create',
      'provider-policy.update',
      'provider-policy.delete',
    ])
      expect(actions).toContain(a)
  })

  it('shows a tenant 404 on every admin destination and policy route', async () => {
    const routes: [string, string][] = [
      ['GET', '/admin/destinations'],
      ['GET', '/admin/destinations/new'],
      ['GET', '/admin/destinations/new/local'],
      ['POST', '/admin/destinations/new/local'],
      ['POST', '/admin/destinations/new/local/test'],
      ['GET', '/admin/destinations/1'],
      ['POST', '/admin/destinations/1'],
      ['POST', '/admin/destinations/1/test'],
      ['POST', '/admin/destinations/1/delete'],
      ['GET', '/admin/policies'],
      ['GET', '/admin/policies/new'],
      ['POST', '/admin/policies'],
      ['GET', '/admin/policies/1'],
      ['POST', '/admin/policies/1'],
      ['GET', '/admin/policies/1/delete'],
      ['POST', '/admin/policies/1/delete'],
    ]
    for (const [method, path] of routes) {
      const res =
        method === 'GET'
          ? await tenant.get(path)
          : await tenant.post(path, { name: 'x', confirm: 'yes' })
      expect(res.status, `${method} ${path}`).toBe(404)
    }
    expect(await listProviderPolicies(deps.db)).toHaveLength(1)
  })
})

describe.runIf(requireSshd())('Admin Test connection pins an SFTP host key', () => {
  const deps = freshDeps()
  let server: SshServer
  const admin = new Client(deps)

  beforeAll(async () => {
    server = await startSshd()
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1'])
    await insertAdmin(deps.db, 'root-admin', await hashPassword(PASSWORD))
    await admin.login('root-admin')
    await admin.get('/admin/destinations') // the page's CSRF token after sign-in
  })
  afterAll(() => server?.stop())

  it('stores the pin with the saved destination, keeping its secrets', async () => {
    const secretDeps = { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers }
    const saved = await saveProviderDestination(secretDeps, 'sftp', null, {
      name: 'Storage box',
      settings: {
        host: server.host,
        port: String(server.port),
        path: 'host-backups',
        user: server.user,
        password: server.password,
      },
    })
    const res = await admin.post(
      `/admin/destinations/${saved.id}/test`,
      {
        name: 'Storage box',
        's.host': server.host,
        's.port': String(server.port),
        's.path': 'host-backups',
        's.user': server.user,
        's.password': '',
      },
      { htmx: true },
    )
    expect(res.body).toContain('Test passed.')
    expect(res.body).toContain(server.fingerprint())
    expect(res.body).not.toContain(server.password)
    const after = (await listProviderDestinations(deps.db))[0]!
    expect(after.settings.hostKey).toBe(server.fingerprint())
    expect(readProviderSecrets(deps.config.secretKey, after)).toEqual({
      password: server.password,
    })
  })
})
