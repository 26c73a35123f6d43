import { describe, expect, it } from 'vitest'
import { desc, like } from 'drizzle-orm'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { insertProviderDestination } from '../../src/db/provider-destinations.ts'
import {
  getSelfBackupSettings,
  lastSelfBackup,
  selfBackupPassword,
  selfBackupRequested,
  selfBackupRunning,
} from '../../src/db/self-backup.ts'
import { auditLog } from '../../src/db/schema.ts'
import { dailySelfBackup } from '../../src/runner/self-backup.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { until } from '../support/storage.ts'

describe('Admin > Panel backup', async () => {
  const localRoot = mkdtempSync(join(tmpdir(), 'panel-root-'))
  const deps = freshDeps({ env: { PANEL_LOCAL_ROOT: localRoot } })
  const { db, config } = deps
  await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
  await addTenant(deps, 'alice')
  const outside = await insertProviderDestination(db, config.secretKey, {
    type: 'local',
    name: 'Host storage',
    settings: { folder: 'panel' },
    secrets: {},
  })
  const admin = new Client(deps)
  await admin.login('boss')
  const tenant = new Client(deps)
  await tenant.login('alice')
  const audits = () =>
    db.select().from(auditLog).where(like(auditLog.action, 'panel.%')).orderBy(desc(auditLog.id))

  it('is for admins only, linked from the admin navigation', async () => {
    for (const path of ['/admin/panel-backup', '/admin/panel-backup/status'])
      expect((await tenant.get(path)).status).toBe(404)
    for (const path of ['/admin/panel-backup', '/admin/panel-backup/run'])
      expect((await tenant.post(path, { time: '02:00' })).status).toBe(404)
    const page = await admin.get('/admin/panel-backup')
    expect(page.status).toBe(200)
    expect(page.body).toContain('href="/admin/panel-backup" class="nav-link active"')
    expect(page.body).toContain('No panel backup has run yet.')
    expect(page.body).toContain('The daily panel backup is off.')
    expect(page.body).toContain('Server time zone:')
  })

  it('refuses a POST without the CSRF token', async () => {
    const res = await admin.post('/admin/panel-backup', { time: '02:00' }, { csrf: 'none' })
    expect(res.status).toBe(403)
    expect((await getSelfBackupSettings(db)).savedAt).toBe(0)
  })

  it('checks the form: a time, a destination before turning it on, none inside the data folder', async () => {
    const bad = await admin.post('/admin/panel-backup', { time: '25:00', enabled: 'on' })
    expect(bad.status).toBe(422)
    expect(bad.body).toContain('Use a time like 03:00 (24-hour clock).')
    expect(bad.body).toContain('Choose where the panel backup goes before turning it on.')

    const insideDeps = freshDeps()
    const inside = await insertProviderDestination(insideDeps.db, insideDeps.config.secretKey, {
      type: 'local',
      name: 'In the data folder',
      settings: { folder: 'panel' },
      secrets: {},
    })
    const insideAdmin = new Client(insideDeps)
    await insertAdmin(insideDeps.db, 'boss', await hashPassword(PASSWORD))
    await insideAdmin.login('boss')
    await insideAdmin.get('/admin/panel-backup')
    const refused = await insideAdmin.post('/admin/panel-backup', {
      destinationId: String(inside.id),
      time: '02:00',
      enabled: 'on',
    })
    expect(refused.status).toBe(422)
    expect(refused.body).toContain('inside the panel’s data folder')
    expect((await getSelfBackupSettings(insideDeps.db)).destinationId).toBeNull()
    expect(await selfBackupPassword(insideDeps.db, insideDeps.config.secretKey)).toBeNull()
  })

  it('shows the password once, at setup', async () => {
    const form = { destinationId: String(outside.id), time: '02:30', enabled: 'on' }
    const first = await admin.post('/admin/panel-backup', form)
    expect(first.status).toBe(200)
    const password = (await selfBackupPassword(db, config.secretKey))!
    expect(password).toBeTruthy()
    expect(first.body).toContain(password)
    expect(first.body).toContain('Write this down: without it the panel backup cannot be restored.')
    expect(await getSelfBackupSettings(db)).toMatchObject({
      destinationId: outside.id,
      time: '02:30',
      enabled: true,
    })
    const again = await admin.post('/admin/panel-backup', form)
    expect(again.status).toBe(303)
    const page = await admin.get('/admin/panel-backup')
    expect(page.body).not.toContain(password)
    expect(page.body).toContain('npx panel self-backup --show-password')
    expect(page.body).toMatch(/Next: \w{3} \d+ \w{3} \d{4}, 02:30\./)
    expect(page.body).toContain('Times are in the server’s time zone')
    const [entry] = await audits()
    expect(entry).toMatchObject({ action: 'panel.self-backup.settings', actor: 'boss' })
    expect(JSON.stringify(entry!.details)).not.toContain(password)
  })

  it('backs up now in this process when it runs the runner, and says how it went', async () => {
    deps.wake = () => {}
    try {
      const res = await admin.post('/admin/panel-backup/run', {})
      expect(res.status).toBe(303)
      await until(
        async () => (await lastSelfBackup(db)) !== null && !(await selfBackupRunning(db)),
        60_000,
        'the backup',
      )
    } finally {
      delete deps.wake
    }
    const last = (await lastSelfBackup(db))!
    expect(last, last.error).toMatchObject({
      ok: true,
      destination: 'Host storage',
      trigger: 'web',
    })
    const page = await admin.get('/admin/panel-backup')
    expect(page.body).toContain('Succeeded')
    expect(page.body).toContain(`snapshot <span class="mono">${last.snapshot!.slice(0, 8)}</span>`)
    expect((await audits())[0]).toMatchObject({
      action: 'panel.self-backup',
      target: 'Host storage',
    })
  })

  it('asks the runner when this process serves pages only', async () => {
    const before = (await lastSelfBackup(db))!
    const res = await admin.post('/admin/panel-backup/run', {})
    expect(res.status).toBe(303)
    expect(await selfBackupRequested(db)).not.toBeNull()
    const page = await admin.get('/admin/panel-backup')
    expect(page.body).toContain('waiting')
    expect(page.body).toContain('hx-trigger="every 3s"')
    // A second press while it waits is refused rather than queued twice.
    await admin.post('/admin/panel-backup/run', {})
    expect((await admin.get('/admin/panel-backup')).body).toContain('already running')
    const runner = dailySelfBackup(deps, (err) => expect.fail(String(err)))
    expect(await runner.tick()).toBe(true)
    expect(await selfBackupRequested(db)).toBeNull()
    await runner.settled()
    const last = (await lastSelfBackup(db))!
    expect(last.at).toBeGreaterThan(before.at)
    expect(last, last.error).toMatchObject({ ok: true, trigger: 'web' })
    expect(await runner.tick()).toBe(false)
  })
})
