import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import {
  browserAvailable,
  launch,
  servePanel,
  shot,
  signIn,
  stopPanel,
  type Panel,
} from './browser.ts'

describe.runIf(browserAvailable())('Backups > Access in Chromium', () => {
  let server: Panel
  let browser: Browser
  let page: Page
  let token = ''

  beforeAll(async () => {
    const deps = freshDeps()
    await addTenant(deps, 'alice')
    ;[server, browser] = await Promise.all([servePanel(deps, { PANEL_RUNNER: '0' }), launch()])
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.setDefaultTimeout(8_000)
    page.on('dialog', (d) => d.accept())
  })
  afterAll(async () => {
    await browser?.close()
    await stopPanel(server)
  })

  it('tenant creates a backup token after typing create and the password; it is shown once', async () => {
    await signIn(page, server.url, 'alice')
    await page.waitForURL('**/backups')
    await page.click('nav >> text=Access')
    await page.waitForURL('**/backups/access')
    await page.fill('#f-confirm', 'create')
    await page.fill('#f-password', 'wrong password')
    await page.click('button:has-text("Create backup token")')
    await page.waitForSelector('#f-password-error')
    expect(await page.textContent('#f-password-error')).toContain('That is not your password.')
    expect(await page.inputValue('#f-confirm')).toBe('create')
    await shot(page, 'access-01-wrong-password')
    await page.fill('#f-password', PASSWORD)
    await page.click('button:has-text("Create backup token")')
    await page.waitForSelector('[data-testid=backup-token]')
    token = (await page.textContent('[data-testid=backup-token]'))!.trim()
    expect(token).toMatch(/^bt_[a-z2-7]{32}$/)
    await shot(page, 'access-02-token-created')
    await page.reload()
    expect(await page.locator('[data-testid=backup-token]').count()).toBe(0)
    expect(await page.textContent('#token-card')).toContain('Active')
  })

  it('tenant creates an API key that works with the token against /api/v1, then revokes it', async () => {
    await page.fill('#f-name', 'nightly pull on the NAS')
    await page.click('button:has-text("Create API key")')
    await page.waitForSelector('[data-testid=api-key]')
    const key = (await page.textContent('[data-testid=api-key]'))!.trim()
    expect(await page.textContent('#api-keys tbody')).toContain(key.slice(0, 11))
    await shot(page, 'access-03-api-key')
    const res = await fetch(`${server.url}/api/v1/snapshots`, {
      headers: { authorization: `Bearer ${key}`, 'x-backup-token': token },
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ destinations: [] })
    await page.reload()
    expect(await page.textContent('#api-keys tbody')).not.toContain('never') // last used is shown
    await page.click('#api-keys button:has-text("Revoke")')
    await page.waitForSelector('#api-keys tbody', { state: 'detached' })
    const after = await fetch(`${server.url}/api/v1/snapshots`, {
      headers: { authorization: `Bearer ${key}`, 'x-backup-token': token },
    })
    expect(after.status).toBe(401)
  })
})
