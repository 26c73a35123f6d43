import { describe, expect, it } from 'vitest'
import { listDestinations } from '../../src/db/destinations.ts'
import { listPolicies } from '../../src/db/policies.ts'
import { insertTenantDatabase } from '../../src/db/tenants.ts'
import { Client, addTenant, freshDeps } from '../helpers.ts'

describe('policies through the pages', async () => {
  const deps = freshDeps()
  const alice = await addTenant(deps, 'alice')
  const shop = await insertTenantDatabase(deps.db, alice.id, 'postgresql', 'shop')
  const c = new Client(deps)
  await c.login('alice')
  await c.post('/backups/destinations/new/local', { name: 'Here', 's.folder': 'here' })
  const dest = (await listDestinations(deps.db, alice.id))[0]!

  it('starts with retention 7 daily, 4 weekly, 12 monthly and the assigned databases', async () => {
    const page = (await c.get('/backups/policies/new')).body
    expect(page).toMatch(/name="keepDaily"[^>]*value="7"/)
    expect(page).toMatch(/name="keepWeekly"[^>]*value="4"/)
    expect(page).toMatch(/name="keepMonthly"[^>]*value="12"/)
    expect(page).toContain('shop')
    expect(page).toContain('Daily at 03:00')
    expect(page).toContain('next runs in UTC:')
    expect(page).toContain('Keeps 7 daily, 4 weekly and 12 monthly backups: about a year.')
  })

  it('shows a bad cron expression beside the field and keeps the rest', async () => {
    const res = await c.post('/backups/settings', {
      name: 'Custom one',
      includeHome: 'on',
      exclude: '**/cache/**',
      destinations: String(dest.id),
      preset: 'custom',
      cron: '99 * * * *',
      timezone: 'Europe/Paris',
      keepDaily: '3',
    })
    expect(res.status).toBe(422)
    expect(res.body).toMatch(/id="f-cron-error"[^>]*>Minute 99 is not between 0 and 59\./)
    // Once, beside the field: the preview below does not repeat it.
    expect(res.body.match(/Minute 99/g)).toHaveLength(1)
    expect(res.body).toContain('value="Custom one"')
    expect(res.body).toContain('**/cache/**')
    expect(res.body).toMatch(/name="timezone"[^>]*value="Europe\/Paris"/)
    expect(res.body).toMatch(/name="keepDaily"[^>]*value="3"/)
    expect(await listPolicies(deps.db, alice.id)).toEqual([])
  })

  it('requires a name, a destination, something to back up and some retention', async () => {
    const res = await c.post('/backups/settings', {
      name: '',
      preset: 'daily',
      timezone: 'UTC',
      keepDaily: '0',
      keepWeekly: '0',
      keepMonthly: '0',
    })
    expect(res.body).toContain('Name is required.')
    expect(res.body).toContain('Choose at least one destination.')
    expect(res.body).toContain('Choose at least one thing to back up.')
    expect(res.body).toContain('Keep at least one backup')
    const abs = await c.post('/backups/settings', {
      name: 'x',
      includeHome: 'on',
      include: '/etc/passwd',
      destinations: String(dest.id),
      preset: 'daily',
      timezone: 'UTC',
      keepDaily: '1',
    })
    expect(abs.body).toContain('patterns are relative to your home folder')
  })

  it('creates, lists, edits and deletes a policy', async () => {
    const res = await c.post('/backups/settings', {
      name: 'Nightly',
      includeHome: 'on',
      include: 'public_html/**',
      exclude: '*.log\n**/cache/**',
      includePanelSettings: 'on',
      databases: String(shop.id),
      destinations: String(dest.id),
      preset: 'custom',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      keepLast: '2',
      keepDaily: '7',
      keepWeekly: '4',
      keepMonthly: '12',
      keepYearly: '1',
      enabled: 'on',
    })
    expect(res.location).toBe('/backups/policies')
    const [p] = await listPolicies(deps.db, alice.id)
    expect(p).toMatchObject({
      name: 'Nightly',
      schedule: '30 2 * * *',
      timezone: 'Europe/Berlin',
      includeGlobs: ['public_html/**'],
      excludeGlobs: ['*.log', '**/cache/**'],
      keepLast: 2,
      keepYearly: 1,
      enabled: true,
      databases: [{ name: 'shop' }],
      destinations: [{ name: 'Here' }],
    })
    const list = (await c.get('/backups/policies')).body
    expect(list).toContain('Nightly')
    // Berlin is not the tenant's zone (UTC), so the list names it.
    expect(list).toContain('Daily at 02:30 (Europe/Berlin time)')
    expect(list).toContain(
      'Keeps the last 2 backups plus 7 daily, 4 weekly, 12 monthly and 1 yearly backups: about a year',
    )
    expect((await c.get('/backups')).body).toContain('Here')
    await c.post(`/backups/policies/${p!.id}`, {
      name: 'Nightly',
      includeHome: 'on',
      destinations: String(dest.id),
      preset: 'weekly',
      timezone: 'UTC',
      keepDaily: '7',
    })
    expect((await listPolicies(deps.db, alice.id))[0]).toMatchObject({
      schedule: '0 3 * * 0',
      enabled: false,
      databases: [],
    })
    await c.post(`/backups/settings/${p!.id}/delete`, { confirm: 'yes' })
    expect(await listPolicies(deps.db, alice.id)).toEqual([])
  })

  it('previews the next three runs as a fragment', async () => {
    const res = await c.get(
      '/backups/policies/schedule-preview?preset=custom&cron=0+12+*+*+1&timezone=Asia%2FTokyo',
      { 'hx-request': 'true' },
    )
    expect(res.body).not.toContain('<html')
    expect(res.body.match(/<li>Mon \d/g)).toHaveLength(3)
    expect(res.body).toContain('12:00')
    expect(res.body).toContain('Every Monday at 12:00')
    const bad = await c.get(
      '/backups/policies/schedule-preview?preset=custom&cron=nope&timezone=UTC',
    )
    expect(bad.body).toMatch(/id="f-cron-problem"[^>]*hx-swap-oob="true"/)
    expect(bad.body).toContain('five fields')
  })
})
