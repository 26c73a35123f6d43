import { afterAll, describe, expect, it } from 'vitest'
import { serve } from '@hono/node-server'
import { spawnSync } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { desc, eq } from 'drizzle-orm'
import { hashPassword } from '../../src/auth/password.ts'
import { audit } from '../../src/db/audit.ts'
import { auditLog, type AuditEntry } from '../../src/db/schema.ts'
import { findUserByName, insertAdmin } from '../../src/db/users.ts'
import { createApp } from '../../src/web/app.tsx'
import { Client, ORIGIN, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'

// Every request goes through a real socket on loopback, so the panel sees a real client address.
const deps = freshDeps({ env: { PANEL_BASE_URL: ORIGIN } })
const server = serve({ fetch: createApp(deps).fetch, port: 0, hostname: '127.0.0.1' })
await new Promise((resolve) => server.once('listening', resolve))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

function overHttp(client: Client): Client {
  client.app = {
    request: (path: string, init: RequestInit) =>
      fetch(base + path, { ...init, redirect: 'manual' }),
  } as never
  return client
}

const browser = () => overHttp(new Client(deps))
const entries = async (action: string): Promise<AuditEntry[]> =>
  await deps.db
    .select()
    .from(auditLog)
    .where(eq(auditLog.action, action))
    .orderBy(desc(auditLog.id))
const rowsOf = (html: string) => html.split('data-testid="audit-row"').slice(1)
const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$/

const alice = await addTenant(deps, 'alice')
const bob = await addTenant(deps, 'bob')
await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))

describe('audit log', () => {
  it('records failed and successful sign-ins with the client address and never the password', async () => {
    const c = browser()
    const wrong = await c.post('/login', { username: 'alice', password: 'hunter2-not-it' })
    expect(wrong.status).toBe(401)
    await c.post('/login', { username: 'nobody-here', password: 'another-guess' })
    const [ghost, failed] = await entries('login.failed')
    expect(failed).toMatchObject({
      actor: 'alice',
      tenantId: alice.id,
      userId: expect.any(Number),
      details: { reason: 'wrong password' },
    })
    expect(failed!.ip).toMatch(LOOPBACK)
    expect(ghost).toMatchObject({
      actor: '(unknown user)',
      tenantId: null,
      userId: null,
      details: { reason: 'unknown user' },
    })
    expect((await c.login('alice')).location).toBe('/backups')
    const [ok] = await entries('login.ok')
    expect(ok).toMatchObject({ actor: 'alice', tenantId: alice.id })
    expect(ok!.ip).toMatch(LOOPBACK)
    const everything = JSON.stringify(await deps.db.select().from(auditLog))
    // A name that matches no account may be a password typed into the wrong field.
    for (const secret of ['hunter2-not-it', 'another-guess', 'nobody-here', PASSWORD])
      expect(everything).not.toContain(secret)
  })

  it('records a destination change and a backup request by the tenant, without settings values', async () => {
    const c = browser()
    await c.login('alice')
    const add = await c.post('/backups/destinations/new/local', {
      name: 'Nightly disk',
      's.folder': 'folder-xyzzy',
    })
    expect(add.location).toBe('/backups/destinations')
    const [created] = await entries('destination.create')
    expect(created).toMatchObject({
      actor: 'alice',
      tenantId: alice.id,
      target: 'Nightly disk',
      details: { type: 'local' },
    })
    expect(created!.ip).toMatch(LOOPBACK)
    expect(JSON.stringify(created)).not.toContain('folder-xyzzy')

    const dest = await localDestination(deps, alice.id, 'second', 'Second disk')
    const policyId = await policy(deps, alice.id, [dest.id], { name: 'Weekly home' })
    expect((await c.post(`/backups/policies/${policyId}/run`, {})).location).toBe('/backups')
    const [backup] = await entries('backup.request')
    expect(backup).toMatchObject({
      actor: 'alice',
      tenantId: alice.id,
      target: 'Weekly home',
      details: { queued: true },
    })
    expect(backup!.ip).toMatch(LOOPBACK)

    const page = await c.get('/backups/activity-log')
    expect(page.status).toBe(200)
    // In sentences, not the stored verbs.
    expect(page.body).toContain('You added the destination “Nightly disk” (Local).')
    expect(page.body).toContain('You asked for a backup of “Weekly home”.')
    expect(page.body).toMatch(/You signed in from (::ffff:)?127\.0\.0\.1\./)
    expect(page.body).not.toContain('destination.create')
  })

  it('records a backup requested from the CLI as `cli`', async () => {
    const env = {
      ...process.env,
      PANEL_DATA_DIR: deps.config.dataDir,
      PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
    }
    const res = spawnSync('node', ['src/bin.js', 'backup', 'alice', '--policy', 'Weekly home'], {
      env,
      encoding: 'utf8',
    })
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    const [cli] = await entries('backup.request')
    expect(cli).toMatchObject({ actor: 'cli', tenantId: alice.id, target: 'Weekly home', ip: null })
  })

  it('filters the admin page by tenant, action, actor and date range', async () => {
    const b = browser()
    await b.login('bob')
    await audit(deps.db, {
      actor: 'bob',
      action: 'policy.create',
      tenantId: bob.id,
      target: 'bob-only-policy',
      ip: '198.51.100.7',
    })
    const admin = browser()
    await admin.login('boss')

    const all = await admin.get('/admin/audit')
    expect(all.status).toBe(200)
    expect(all.body).toContain('bob-only-policy')
    expect(all.body).toContain('198.51.100.7')

    const logins = await admin.get('/admin/audit?action=login.')
    const loginRows = rowsOf(logins.body)
    expect(loginRows.length).toBe(
      (await entries('login.ok')).length + (await entries('login.failed')).length,
    )
    for (const row of loginRows) expect(row).toMatch(/login\.(ok|failed)/)

    const bobs = rowsOf((await admin.get('/admin/audit?tenant=bob')).body)
    expect(bobs.length).toBe(2) // bob's sign-in and his policy
    for (const row of bobs) expect(row).toContain('bob')
    expect(bobs.join('')).not.toContain('alice')

    const byCli = rowsOf((await admin.get('/admin/audit?actor=cli')).body)
    expect(byCli.length).toBe(1)
    expect(byCli[0]).toContain('backup.request')

    // Entries at noon UTC on fixed past days: whatever zone the page reads dates in (up to 11 h
    // either way) and whenever the test runs, each falls on its own day and none on today.
    const dated = async (target: string, at: string) =>
      await deps.db
        .insert(auditLog)
        .values({ actor: 'boss', action: 'dated.test', target, at: new Date(at) })
    await dated('day-14', '2021-06-14T12:00:00Z')
    await dated('day-15', '2021-06-15T12:00:00Z')
    await dated('day-16', '2021-06-16T12:00:00Z')
    const targets = async (query: string) =>
      rowsOf((await admin.get(`/admin/audit?${query}`)).body).map(
        (row) => row.match(/day-\d+/)?.[0] ?? 'other',
      )
    expect(await targets('from=2021-06-15&to=2021-06-15')).toEqual(['day-15'])
    expect(await targets('to=2021-06-14')).toEqual(['day-14'])
    expect(await targets('from=2021-06-14&to=2021-06-15')).toEqual(['day-15', 'day-14'])
    expect(await targets('action=dated.&from=2021-06-15')).toEqual(['day-16', 'day-15'])
    expect(await targets('action=dated.&from=2021-06-17')).toEqual([])
    expect(await targets('to=2021-06-13')).toEqual([])
    // Everything recorded just now lies after the dated days.
    const recent = await targets('from=2021-06-17')
    expect(recent.length).toBeGreaterThan(5)
    expect(recent.every((t) => t === 'other')).toBe(true)

    const unknown = await admin.get('/admin/audit?tenant=nosuch&from=31-12-2026')
    expect(unknown.body).toContain('No tenant is named “nosuch”.')
    expect(unknown.body).toContain('Enter a date like')
    expect(unknown.body).toContain('value="31-12-2026"')
    expect(rowsOf(unknown.body)).toEqual([])

    const fragment = await admin.get('/admin/audit?action=policy.', { 'hx-request': 'true' })
    expect(fragment.body).not.toContain('<html')
    expect(rowsOf(fragment.body).length).toBe(1)
  })

  it('pages newest first in pages of 50', async () => {
    for (let i = 1; i <= 120; i++)
      await audit(deps.db, {
        actor: 'cli',
        action: 'paging.test',
        tenantId: bob.id,
        target: `item-${i}`,
      })
    const admin = browser()
    await admin.login('boss')
    const first = await admin.get('/admin/audit?action=paging.')
    const rows = rowsOf(first.body)
    expect(rows.length).toBe(50)
    expect(rows[0]).toContain('item-120')
    expect(rows[49]).toContain('item-71')
    expect(first.body).not.toContain('← Newer')
    const older = first.body
      .match(/href="(\/admin\/audit\?[^"]*before=\d+)"/)![1]!
      .replace(/&amp;/g, '&')
    const second = await admin.get(older)
    expect(rowsOf(second.body)[0]).toContain('item-70')
    const third = await admin.get(
      second.body.match(/href="(\/admin\/audit\?[^"]*before=\d+)"/)![1]!.replace(/&amp;/g, '&'),
    )
    expect(rowsOf(third.body).length).toBe(20)
    expect(rowsOf(third.body)[19]).toContain('“item-1”')
    expect(third.body).not.toContain('Older →')
    const back = await admin.get(
      third.body.match(/href="(\/admin\/audit\?[^"]*after=\d+)"/)![1]!.replace(/&amp;/g, '&'),
    )
    expect(rowsOf(back.body)[0]).toContain('item-70')
    expect(rowsOf(back.body)[49]).toContain('item-21')
  })

  it('shows a tenant only their own entries, whatever the query asks', async () => {
    const c = browser()
    await c.login('alice')
    for (const url of [
      '/backups/activity-log',
      '/backups/activity-log?tenant=bob',
      '/backups/activity-log?actor=bob',
    ]) {
      const page = await c.get(url)
      expect(page.status).toBe(200)
      expect(page.body).not.toContain('bob-only-policy')
      expect(page.body).not.toContain('item-')
      for (const row of rowsOf(page.body)) expect(row).not.toContain('>bob<')
    }
    expect(rowsOf((await c.get('/backups/activity-log')).body).length).toBeGreaterThan(3)
    // An admin's action on the tenant shows who, but not the admin's address.
    await audit(deps.db, {
      actor: 'boss',
      userId: (await findUserByName(deps.db, 'boss'))!.id,
      action: 'tenant.update',
      tenantId: alice.id,
      target: 'alice',
      ip: '192.0.2.99',
    })
    const own = await c.get('/backups/activity-log')
    expect(own.body).toContain('Your host (boss) changed the tenant “alice”.')
    expect(own.body).not.toContain('192.0.2.99')
    expect(own.body).toMatch(/127\.0\.0\.1/)
    expect((await c.get('/admin/audit')).status).toBe(404)
    expect((await c.get('/admin/audit?tenant=bob')).status).toBe(404)
    const anonymous = await browser().get('/admin/audit')
    expect(anonymous.status).toBe(302)
    expect(anonymous.location).toBe('/login?next=%2Fadmin%2Faudit')
  })

  it('records sign-out and admin actions on a tenant', async () => {
    const admin = browser()
    await admin.login('boss')
    await admin.get(`/admin/tenants/${bob.id}`)
    const saved = await admin.post(`/admin/tenants/${bob.id}`, {
      homeDir: '/srv/bob',
      systemUser: '',
      timezone: 'UTC',
      password: 'a brand new password',
    })
    expect(saved.location).toBe(`/admin/tenants/${bob.id}`)
    const [edit] = await entries('tenant.update')
    expect(edit).toMatchObject({
      actor: 'boss',
      tenantId: bob.id,
      target: 'bob',
      details: { changed: ['homeDir', 'password'] },
    })
    expect(JSON.stringify(edit)).not.toContain('a brand new password')
    await admin.post(`/admin/tenants/${bob.id}/disable`, { confirm: 'yes' })
    expect((await entries('tenant.disable'))[0]).toMatchObject({ actor: 'boss', tenantId: bob.id })
    await admin.post('/logout', {})
    expect((await entries('logout'))[0]).toMatchObject({ actor: 'boss', tenantId: null })
  })
})
