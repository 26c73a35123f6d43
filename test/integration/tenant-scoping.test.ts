import { describe, expect, it } from 'vitest'
import { listDestinations } from '../../src/db/destinations.ts'
import { listPolicies } from '../../src/db/policies.ts'
import { insertTenantDatabase } from '../../src/db/tenants.ts'
import { createRun } from '../../src/db/runs.ts'
import { activeJobs } from '../../src/db/jobs.ts'
import { Client, addTenant, freshDeps } from '../helpers.ts'

const policyForm = (destinationId: number, extra: Record<string, string | string[]> = {}) => ({
  name: 'Nightly',
  enabled: 'on',
  includeHome: 'on',
  destinations: String(destinationId),
  preset: 'daily',
  cron: '',
  timezone: 'UTC',
  keepLast: '0',
  keepDaily: '7',
  keepWeekly: '4',
  keepMonthly: '12',
  keepYearly: '0',
  ...extra,
})

describe('tenant B never reaches tenant A’s objects', async () => {
  const deps = freshDeps()
  const alice = await addTenant(deps, 'alice')
  const bob = await addTenant(deps, 'bob')
  const aliceDb = await insertTenantDatabase(deps.db, alice.id, 'mariadb', 'alice_shop')
  const a = new Client(deps)
  await a.login('alice')
  await a.post('/backups/destinations/new/local', { name: 'Alice local', 's.folder': 'nightly' })
  const dest = (await listDestinations(deps.db, alice.id))[0]!
  await a.post('/backups/settings', policyForm(dest.id, { databases: String(aliceDb.id) }))
  const policy = (await listPolicies(deps.db, alice.id))[0]!
  const b = new Client(deps)
  await b.login('bob')

  const aliceRun = await createRun(deps.db, alice.id, {
    kind: 'backup',
    trigger: 'manual',
    jobId: null,
    policyId: policy.id,
  })
  const snap = 'ab'.repeat(32)

  it('A created both objects', () => {
    expect(dest.name).toBe('Alice local')
    expect(policy.destinations.map((d) => d.id)).toEqual([dest.id])
  })

  it.each([
    ['destination edit page', `/backups/destinations/${dest.id}`],
    ['policy edit page', `/backups/policies/${policy.id}`],
    ['run page', `/backups/runs/${aliceRun.id}`],
    ['snapshot browser', `/backups/restore/${dest.id}/${snap}`],
    ['snapshot tree fragment', `/backups/restore/${dest.id}/${snap}/tree?path=/home/alice`],
    ['snapshot download', `/backups/restore/${dest.id}/${snap}/download?path=/home/alice`],
  ])('GET %s → 404', async (_what, url) => {
    const res = await b.get(url)
    expect(res.status).toBe(404)
    expect(res.body).not.toContain('Alice local')
    expect((await b.get(url, { 'hx-request': 'true' })).status).toBe(404)
  })

  it.each([
    ['destination save', `/backups/destinations/${dest.id}`, { name: 'pwned', 's.folder': 'x' }],
    ['destination delete', `/backups/destinations/${dest.id}/delete`, { confirm: 'yes' }],
    ['policy save', `/backups/settings/${policy.id}`, policyForm(dest.id, { name: 'pwned' })],
    ['policy delete', `/backups/settings/${policy.id}/delete`, { confirm: 'yes' }],
    [
      'policy save (new address)',
      `/backups/policies/${policy.id}`,
      policyForm(dest.id, { name: 'pwned' }),
    ],
    ['back up now', `/backups/policies/${policy.id}/run`, {}],
    [
      'restore',
      `/backups/restore/${dest.id}/${snap}`,
      { what: 'files', mode: 'copy', newName: 'x' },
    ],
    [
      'recovery kit',
      '/backups/recovery',
      { destination: String(dest.id), password: 'correct horse battery' },
    ],
  ])('POST %s → 404, nothing changes', async (_what, url, form) => {
    expect((await b.post(url, form)).status).toBe(404)
    expect((await b.post(url, form, { htmx: true, csrf: 'header' })).status).toBe(404)
    expect((await listDestinations(deps.db, alice.id)).map((d) => d.name)).toEqual(['Alice local'])
    expect((await listPolicies(deps.db, alice.id)).map((p) => p.name)).toEqual(['Nightly'])
    expect(await activeJobs(deps.db, alice.id)).toEqual([])
  })

  it('B cannot attach A’s destination or database to a policy of their own', async () => {
    const res = await b.post('/backups/settings', policyForm(dest.id, { name: 'Sneaky' }))
    expect(res.status).toBe(422)
    expect(res.body).toContain('Choose destinations from the list.')
    await b.post('/backups/destinations/new/local', { name: 'Bob local', 's.folder': 'b' })
    const bobDest = (await listDestinations(deps.db, bob.id))[0]!
    const res2 = await b.post(
      '/backups/settings',
      policyForm(bobDest.id, { name: 'Sneaky', databases: String(aliceDb.id) }),
    )
    expect(res2.status).toBe(422)
    expect(res2.body).toContain('Choose databases from the list.')
    expect(await listPolicies(deps.db, bob.id)).toEqual([])
  })

  it('B’s lists show none of A’s objects', async () => {
    for (const url of [
      '/backups',
      '/backups/destinations',
      '/backups/policies',
      '/backups/policies/new',
    ]) {
      const res = await b.get(url)
      expect(res.status).toBe(200)
      expect(res.body).not.toContain('Alice local')
      expect(res.body).not.toContain('alice_shop')
    }
  })

  it('non-numeric and huge ids are 404, not errors', async () => {
    for (const url of [
      '/backups/destinations/abc',
      '/backups/policies/1e3',
      '/backups/destinations/99999999999',
    ]) {
      expect((await b.get(url)).status).toBe(404)
    }
  })
})
