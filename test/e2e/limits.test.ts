import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import {
  browserAvailable,
  launch,
  servePanel,
  shot,
  signIn,
  stopPanel,
  type Panel,
} from './browser.ts'
import { PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { getTenant } from '../../src/db/tenants.ts'
import { getAdminSettings } from '../../src/db/settings.ts'
import { jobs, repositories } from '../../src/db/schema.ts'
import { GIB } from '../../src/domain/limits.ts'

describe.runIf(browserAvailable())('Policy limits in Chromium', () => {
  const deps = freshDeps()
  const { db } = deps
  let server: Panel
  let url = ''
  let browser: Browser
  let page: Page
  let aliceId = 0
  let destId = 0

  beforeAll(async () => {
    await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
    const alice = await addTenant(deps, 'alice')
    aliceId = alice.id
    const dest = await localDestination(deps, alice.id, 'nightly', 'On this server')
    destId = dest.id
    await policy(deps, alice.id, [dest.id])
    // No runner: a queued backup stays queued, which is all the on-demand count needs.
    server = await servePanel(deps, { PANEL_RUNNER: '0' })
    url = server.url
    browser = await launch()
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.setDefaultTimeout(15_000)
  })
  afterAll(async () => {
    await browser?.close()
    await stopPanel(server)
  })

  it('admin sets panel-wide limits, fixing a bad local root beside its field', async () => {
    await signIn(page, url, 'boss')
    await page.waitForURL('**/admin/**')
    await page.click('nav >> text=Policy limits')
    await page.fill('#f-quotaGiB', '1')
    await page.fill('#f-quotaRunsPerDay', '1')
    await page.fill('#f-minIntervalMinutes', '60')
    await page.fill('#f-localRoot', '/no/such/folder')
    await page.click('button:has-text("Save limits")')
    await page.waitForSelector('#f-localRoot-error')
    expect(await page.textContent('#f-localRoot-error')).toContain(
      '“/no/such/folder” does not exist. Create the directory first.',
    )
    expect(await page.inputValue('#f-quotaGiB')).toBe('1')
    await shot(page, 'limits-01-settings-error')
    const root = mkdtempSync(join(tmpdir(), 'e2e-root-'))
    await page.fill('#f-localRoot', root)
    await page.click('button:has-text("Save limits")')
    await page.waitForSelector('text=Limits saved.')
    expect(await getAdminSettings(db)).toMatchObject({
      quotaBytes: GIB,
      quotaRunsPerDay: 1,
      minIntervalMinutes: 60,
      localRoot: root,
    })
  })

  it('admin gives one tenant its own limit on the tenant page', async () => {
    await page.goto(`${url}/admin/tenants/${aliceId}`)
    await page.fill('#limits #f-quotaSnapshots', 'many')
    await page.click('#limits button:has-text("Save limits")')
    await page.waitForSelector('#limits #f-quotaSnapshots-error')
    expect(await page.textContent('#limits #f-quotaSnapshots-error')).toContain(
      'Use a whole number of snapshots',
    )
    await page.fill('#limits #f-quotaSnapshots', '20')
    await page.click('#limits button:has-text("Save limits")')
    await page.waitForSelector('text=Limits of “alice” saved.')
    expect((await getTenant(db, aliceId)).quotaSnapshots).toBe(20)
    expect(await page.getAttribute('#limits #f-quotaGiB', 'placeholder')).toBe('default: 1 GiB')
    await shot(page, 'limits-02-tenant-limits')
    await page.click('text=Sign out')
  })

  it('the tenant sees usage against the limits and a refused second on-demand backup', async () => {
    await db.insert(repositories).values({
      tenantId: aliceId,
      destinationId: destId,
      passwordSealed: 'x',
      storedBytes: 600 * 1024 ** 2,
      snapshotCount: 7,
    })
    await signIn(page, url, 'alice')
    await page.waitForURL('**/backups')
    await page.click('button:has-text("Back up now")')
    await page.waitForSelector('text=Backup queued')
    await db.update(jobs).set({ status: 'done' })
    await page.click('button:has-text("Back up now")')
    await page.waitForSelector('.flash-error')
    expect(await page.textContent('.flash-error')).toMatch(
      /^You have used 1 of 1 on-demand backups today; the next is possible after \d\d:\d\d\.$/,
    )
    const usage = await page.textContent('#usage')
    expect(usage).toContain('Stored data600 MiB of 1 GiB')
    expect(usage).toContain('Backups stored7 of 20')
    expect(await page.getAttribute('#usage progress[aria-label="Stored data"]', 'value')).toBe(
      String(600 * 1024 ** 2),
    )
    await shot(page, 'limits-03-overview-refused')
  })
})
