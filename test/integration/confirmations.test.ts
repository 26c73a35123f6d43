import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { listDestinations } from '../../src/db/destinations.ts'
import { listPolicies } from '../../src/db/policies.ts'
import { listApiKeys } from '../../src/db/access.ts'
import { listTenantDatabases } from '../../src/db/tenants.ts'
import { listProviderDestinations } from '../../src/db/provider-destinations.ts'
import { jobs } from '../../src/db/schema.ts'
import { createApiKey } from '../../src/domain/api-keys.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { saveProviderDestination } from '../../src/domain/provider-destinations.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'

/**
 * Every destructive button works without JavaScript: a bare POST answers a page that says what
 * will happen and re-posts with confirm=yes; only that (or htmx's confirm=yes) acts.
 */
describe('confirmations before delete, revoke, remove and cancel', async () => {
  const deps = freshDeps()
  const { db } = deps
  const secretDeps = { db, secretKey: deps.config.secretKey, drivers: deps.drivers }
  await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
  const alice = await addTenant(deps, 'alice')
  const spare = await localDestination(deps, alice.id, 'spare', 'Spare disk')
  const used = await localDestination(deps, alice.id, 'nightly', 'On this server')
  const nightly = { id: await policy(deps, alice.id, [used.id]) }
  const key = (await createApiKey(db, alice.id, 'nas pull', { actor: 'alice' })).row
  const database = await assignDatabase(db, deps.config.secretKey, alice.id, {
    engine: 'mariadb',
    name: 'alice_shop',
    host: '',
    port: '',
    username: '',
    password: '',
  })
  const job = (await requestBackup(db, alice.id, nightly.id, 'manual')).job
  const hostDisk = await saveProviderDestination(secretDeps, 'local', null, {
    name: 'Host disk',
    settings: { folder: 'host' },
  })
  const tenant = new Client(deps)
  await tenant.login('alice')
  const admin = new Client(deps)
  await admin.login('boss')
  // The policies page, where the tenant's menu links it.
  const policies = (await tenant.get('/backups')).body.match(
    /href="(\/backups\/(?:settings|policies))"/,
  )![1]!

  const cases = [
    {
      what: 'delete a destination',
      who: tenant,
      path: `/backups/destinations/${spare.id}/delete`,
      page: '/backups/destinations',
      says: ['Delete the destination “Spare disk”?', 'save its recovery kit first'],
      button: 'Yes, delete the destination',
      exists: async () => (await listDestinations(db, alice.id)).some((d) => d.id === spare.id),
    },
    {
      what: 'delete a policy',
      who: tenant,
      path: `${policies}/${nightly.id}/delete`,
      page: policies,
      says: ['Delete the policy “Nightly”?', 'Backups it already made are kept'],
      button: 'Yes, delete the policy',
      exists: async () => (await listPolicies(db, alice.id)).some((p) => p.id === nightly.id),
    },
    {
      what: 'revoke an API key',
      who: tenant,
      path: `/backups/access/keys/${key.id}/revoke`,
      page: '/backups/access',
      says: ['Revoke the API key “nas pull”?', 'stop working at once'],
      button: 'Yes, revoke the key',
      exists: async () => (await listApiKeys(db, alice.id)).some((k) => k.id === key.id),
    },
    {
      what: 'remove a database from a tenant',
      who: admin,
      path: `/admin/tenants/${alice.id}/databases/${database.id}/delete`,
      page: `/admin/tenants/${alice.id}`,
      says: ['Remove the database “alice_shop” from alice?', 'The database itself is not touched'],
      button: 'Yes, remove it from the tenant',
      exists: async () =>
        (await listTenantDatabases(db, alice.id)).some((d) => d.id === database.id),
    },
    {
      what: 'cancel a queued job',
      who: admin,
      path: `/admin/runner/jobs/${job.id}/cancel`,
      page: '/admin/runner',
      says: ['Cancel the queued backup “Nightly” of alice?', 'taken out of the queue'],
      button: 'Yes, cancel the job',
      exists: async () =>
        (await db.select().from(jobs).where(eq(jobs.id, job.id)))[0] !== undefined,
    },
    {
      what: 'delete a host destination',
      who: admin,
      path: `/admin/destinations/${hostDisk.id}/delete`,
      page: '/admin/destinations',
      says: ['Delete the destination “Host disk”?', 'Nothing stored there is deleted.'],
      button: 'Yes, delete the destination',
      exists: async () => (await listProviderDestinations(db)).some((d) => d.id === hostDisk.id),
    },
  ]

  it.each(cases)('$what: the button posts confirm=yes with htmx', async (c) => {
    const page = await c.who.get(c.page)
    expect(page.status).toBe(200)
    const form = page.body.match(
      new RegExp(`<form method="post" action="${c.path}">[\\s\\S]*?</form>`),
    )
    expect(form, `no form posting ${c.path} on ${c.page}`).not.toBeNull()
    expect(form![0]).toContain('hx-confirm=')
    expect(form![0]).toContain(`hx-vals="{&quot;confirm&quot;:&quot;yes&quot;}"`)
    expect(form![0]).not.toContain('name="confirm"')
  })

  it.each(cases)('$what: a bare POST changes nothing and asks first', async (c) => {
    const res = await c.who.post(c.path, {})
    expect(res.status).toBe(200)
    for (const words of c.says) expect(res.body).toContain(words)
    expect(res.body).toContain(`<form method="post" action="${c.path}" class="form-actions">`)
    expect(res.body).toContain('<input type="hidden" name="confirm" value="yes"/>')
    expect(res.body).toMatch(/<input type="hidden" name="_csrf" value="[^"]+"\/>/)
    expect(res.body).toContain(c.button)
    expect(res.body).toContain(`<a class="button" href="${c.page}">Cancel</a>`)
    expect(await c.exists()).toBe(true)
    // Anything but "yes" is not a yes.
    await c.who.post(c.path, { confirm: 'on' })
    expect(await c.exists()).toBe(true)
  })

  it.each(cases)('$what: an htmx POST without confirm=yes shows the page in full', async (c) => {
    const res = await c.who.post(c.path, {}, { htmx: true })
    expect(res.status).toBe(200)
    expect(res.headers.get('hx-retarget')).toBe('body')
    expect(res.body).toContain(c.button)
    expect(await c.exists()).toBe(true)
  })

  it('refuses at once, without asking, what it would refuse after asking', async () => {
    const res = await tenant.post(`/backups/destinations/${used.id}/delete`, {})
    expect(res.status).toBe(303)
    expect((await tenant.get('/backups/destinations')).body).toContain('is used by')
    expect((await listDestinations(db, alice.id)).some((d) => d.id === used.id)).toBe(true)
  })

  it.each(cases)('$what: the Yes acts', async (c) => {
    const res = await c.who.post(c.path, { confirm: 'yes' })
    expect([200, 303]).toContain(res.status)
    expect(await c.exists()).toBe(false)
  })

  it('another tenant’s object is a 404, not a confirmation page', async () => {
    const bob = await addTenant(deps, 'bob')
    const bobKey = (await createApiKey(db, bob.id, 'bob key', { actor: 'bob' })).row
    const res = await tenant.post(`/backups/access/keys/${bobKey.id}/revoke`, {})
    expect(res.status).toBe(404)
    expect(res.body).not.toContain('bob key')
  })
})
