import { afterAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../../src/auth/password.ts'
import { createRun } from '../../src/db/runs.ts'
import { runLogs } from '../../src/db/schema.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { createTenant } from '../../src/domain/tenants.ts'
import { listPolicies } from '../../src/db/policies.ts'
import { listDestinations } from '../../src/db/destinations.ts'
import { Client, PASSWORD, freshDeps } from '../helpers.ts'

// One clock, plain words: times in the tenant's zone (the server's for admins), named once per
// page; the policies under their own name; the activity log in sentences.
const serverTz = process.env.TZ
process.env.TZ = 'America/New_York'
afterAll(() => {
  if (serverTz === undefined) delete process.env.TZ
  else process.env.TZ = serverTz
})

const deps = freshDeps()
// An old name for the zone, as a script might still send it: saved under its current name.
const tenant = await createTenant(deps.db, {
  name: 'priya',
  password: PASSWORD,
  homeDir: '/home/priya',
  systemUser: '',
  timezone: 'Asia/Calcutta',
})
await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
const c = new Client(deps)
await c.login('priya')

const run = await createRun(deps.db, tenant.id, {
  kind: 'backup',
  trigger: 'manual',
  jobId: null,
  policyId: null,
})
await deps.db.insert(runLogs).values([
  { runId: run.id, level: 'info', message: 'Dumping shop', at: new Date('2026-12-03T09:30:01Z') },
  { runId: run.id, level: 'info', message: 'Uploaded', at: new Date('2026-12-03T09:41:07Z') },
])

const logTimes = (html: string) =>
  [...html.matchAll(/<time datetime="[^"]+">(\d\d:\d\d:\d\d)<\/time><\/span> (\w+)/g)].map(
    (m) => `${m[1]} ${m[2]}`,
  )

describe('one clock', () => {
  it('saves an old zone name under its current one', () => {
    expect(tenant.timezone).toBe('Asia/Kolkata')
  })

  it('shows the run log in the tenant’s zone, named once on the page', async () => {
    const page = await c.get(`/backups/runs/${run.id}`)
    expect(page.status).toBe(200)
    expect(logTimes(page.body)).toEqual(['15:00:01 Dumping', '15:11:07 Uploaded'])
    expect(page.body).not.toContain('>09:30:01<')
    expect(page.body.match(/Times are in/g)).toHaveLength(1)
    expect(page.body).toContain('Times are in Asia/Kolkata (UTC+05:30).')
  })

  it('shows the admin the same run in the server’s zone, named as such', async () => {
    const admin = new Client(deps)
    await admin.login('boss')
    const page = await admin.get(`/admin/tenants/${tenant.id}/runs/${run.id}`)
    expect(page.status).toBe(200)
    expect(logTimes(page.body)).toEqual(['04:30:01 Dumping', '04:41:07 Uploaded'])
    expect(page.body).toMatch(
      /Times are in the server’s time zone, America\/New_York \(UTC-05:00\)\./,
    )
  })
})

describe('plain words', () => {
  it('calls the policies page Policies, at its own address, and the old one still works', async () => {
    const overview = (await c.get('/backups')).body
    expect(overview).toMatch(/<a href="\/backups\/policies" class="nav-link[^"]*">Policies<\/a>/)
    expect(overview).not.toMatch(/>Settings</)
    const old = await c.get('/backups/settings/new?from=bookmark')
    expect(old.status).toBe(301)
    expect(old.location).toBe('/backups/policies/new?from=bookmark')
    expect((await c.get('/backups/settings')).location).toBe('/backups/policies')
    const page = await c.get('/backups/policies/new')
    expect(page.body).toMatch(/<h1>New policy<\/h1>/)
    expect(page.body).toMatch(/aria-current="page"[^>]*>Policies</)
    // A form still open at the old address saves as before.
    const added = await c.post('/backups/destinations/new/local', {
      name: 'Here',
      's.folder': 'here',
    })
    expect(added.status, added.body.slice(-3000)).toBe(303)
    const dest = (await listDestinations(deps.db, tenant.id))[0]!
    const saved = await c.post('/backups/settings', {
      name: 'Nightly',
      includeHome: 'on',
      destinations: String(dest.id),
      preset: 'custom',
      cron: '15 22 * * 1-5',
      timezone: 'Europe/Kiev',
      keepLast: '10',
      keepDaily: '0',
      keepWeekly: '0',
      keepMonthly: '0',
      enabled: 'on',
    })
    expect(saved.location).toBe('/backups/policies')
    expect((await listPolicies(deps.db, tenant.id))[0]).toMatchObject({ timezone: 'Europe/Kyiv' })
    const list = (await c.get('/backups/policies')).body
    expect(list).toContain('Weekdays at 22:15 (Europe/Kyiv time)')
    expect(list).toContain('Keeps the last 10 backups')
    const withPolicy = (await c.get('/backups')).body
    expect(withPolicy).toContain(
      '<div class="muted small schedule-words">Weekdays at 22:15 (Europe/Kyiv time)</div>',
    )
  })

  it('lists every bad cron field once, beside the field, live and on save', async () => {
    const live = await c.get(
      '/backups/policies/schedule-preview?preset=custom&cron=61+25+*+*+*&timezone=Asia%2FKolkata',
      { 'hx-request': 'true' },
    )
    const message = 'Minute 61 is not between 0 and 59; hour 25 is not between 0 and 23.'
    expect(live.body).toContain(
      `<div id="f-cron-problem" hx-swap-oob="true"><p class="field-error" id="f-cron-error" role="alert">${message}</p></div>`,
    )
    expect(live.body.match(/Minute 61/g)).toHaveLength(1)
    expect(live.body).not.toMatch(/Constraint|expected range/)
    const saved = await c.post('/backups/policies', {
      name: 'Broken',
      includeHome: 'on',
      destinations: String((await listDestinations(deps.db, tenant.id))[0]!.id),
      preset: 'custom',
      cron: '61 25 * * *',
      timezone: 'Mars/Olympus',
      keepDaily: '7',
    })
    expect(saved.status).toBe(422)
    expect(saved.body.match(/Minute 61/g)).toHaveLength(1)
    expect(saved.body).toMatch(
      /id="f-cron-error" role="alert">Minute 61 is not between 0 and 59; hour 25/,
    )
    expect(saved.body).toMatch(
      /id="f-timezone-error" role="alert">“Mars\/Olympus” is not a time zone/,
    )
  })

  it('offers time zones to search, by current name, with their offsets', async () => {
    const page = (await c.get('/backups/policies/new')).body
    expect(page).toMatch(
      /<input id="f-timezone" name="timezone" type="text" list="f-timezone-list" value="Asia\/Kolkata"/,
    )
    expect(page).toMatch(/<option value="Asia\/Kolkata">Asia\/Kolkata \(UTC\+05:30\)<\/option>/)
    expect(page).toMatch(/<option value="Europe\/Kyiv">Europe\/Kyiv \(UTC\+0[23]:00\)<\/option>/)
    expect(page).not.toContain('value="Asia/Calcutta"')
  })

  it('tells the activity log in sentences', async () => {
    const log = (await c.get('/backups/activity-log')).body
    expect(log).toContain('You created the policy “Nightly”.')
    expect(log).toContain('You added the destination “Here” (Local).')
    expect(log).toMatch(/You signed in( from [\d.:a-f]+)?\./)
    expect(log).not.toMatch(/policy\.create|login\.ok|destination\.create/)
    expect(log).toContain('Times are in Asia/Kolkata (UTC+05:30).')
    const filtered = (await c.get('/backups/activity-log?action=policy.')).body
    expect(filtered).toMatch(/<option value="policy\." selected="">Policies<\/option>/)
    expect(filtered).not.toContain('You added the destination')
  })
})
