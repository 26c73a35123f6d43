import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import AxeBuilder from '@axe-core/playwright'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { PASSWORD, freshDeps } from '../helpers.ts'
import {
  browserAvailable,
  launch,
  servePanel,
  shot,
  signIn,
  stopPanel,
  type Panel,
} from './browser.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  backUpOnce,
} from '../support/tenants.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { createApiKey } from '../../src/domain/api-keys.ts'
import { saveProviderDestination } from '../../src/domain/provider-destinations.ts'
import { newProviderPolicyInput, saveProviderPolicy } from '../../src/domain/provider-policies.ts'

const WIDE = { width: 1280, height: 860 }
const PHONE = { width: 390, height: 844 }

/** axe findings that fail the test: the two worst of its four impact levels. */
const BLOCKING = new Set(['serious', 'critical'])

/**
 * Phone-sized pages, the menu, confirmations without JavaScript, copy buttons, branding and an
 * axe-core accessibility run, against a real `panel serve` with a real backup in it.
 */
describe.runIf(browserAvailable() && rootAvailable())(
  'layout and accessibility in Chromium',
  () => {
    const deps = freshDeps()
    let server: Panel
    let branded: Panel
    let browser: Browser
    let tenant: Page
    let admin: Page
    let tenantContext: BrowserContext
    /** Path of the tenant's Settings (policies) page, as its menu links it. */
    let policiesPath = ''
    /** A snapshot's browse page, from the Restore list. */
    let browsePath = ''
    let spareId = 0
    let keyName = ''
    let aliceId = 0

    beforeAll(async () => {
      await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
      const t = await realTenant(deps, 'alice', {
        'public_html/index.html': '<h1>alice</h1>\n',
        'public_html/a-rather-long-folder-name-for-narrow-screens/file.txt': 'x\n',
      })
      aliceId = t.tenant.id
      const dest = await localDestination(deps, t.tenant.id, 'nightly', 'On this server')
      spareId = (await localDestination(deps, t.tenant.id, 'spare', 'Spare disk')).id
      const policyId = await policy(deps, t.tenant.id, [dest.id])
      expect((await backUpOnce(deps, t.tenant.id, policyId)).status).toBe('done')
      keyName = (await createApiKey(deps.db, t.tenant.id, 'nas pull', { actor: 'alice' })).row.name
      const secretDeps = { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers }
      const hostDisk = await saveProviderDestination(secretDeps, 'local', null, {
        name: 'Host disk',
        settings: { folder: 'host' },
      })
      // Enabled, but its first window is hours away: nothing runs during the test.
      await saveProviderPolicy(deps.db, null, {
        ...newProviderPolicyInput(),
        name: 'Nightly for everyone',
        destinationIds: [hostDisk.id],
      })
      ;[server, branded, browser] = await Promise.all([
        servePanel(deps, { PANEL_RUNNER: '0' }),
        servePanel(deps, {
          PANEL_RUNNER: '0',
          PANEL_BRAND_NAME: 'Acme Hosting',
          PANEL_BRAND_ACCENT: '#f2c200',
        }),
        launch(),
      ])
      tenantContext = await browser.newContext({ viewport: WIDE })
      await tenantContext.grantPermissions(['clipboard-read', 'clipboard-write'], {
        origin: server.url,
      })
      tenant = await tenantContext.newPage()
      admin = await (await browser.newContext({ viewport: WIDE })).newPage()
      for (const page of [tenant, admin]) page.setDefaultTimeout(15_000)
      await signIn(tenant, server.url, 'alice')
      await tenant.waitForURL('**/backups')
      await signIn(admin, server.url, 'boss')
      await admin.waitForURL('**/admin/**')
      policiesPath = (await tenant.locator('.nav-main a').nth(2).getAttribute('href'))!
      await tenant.goto(`${server.url}/backups/restore`)
      browsePath = new URL(
        (await tenant.locator('main a[href*="/backups/restore/"]').first().getAttribute('href'))!,
        server.url,
      ).pathname
    }, 180_000)

    afterAll(async () => {
      await browser?.close()
      await Promise.all([stopPanel(server), stopPanel(branded)])
      removeUsers()
    })

    const tenantPages = () => [
      ['overview', '/backups'],
      ['destinations', '/backups/destinations'],
      ['policies', policiesPath],
      ['restore', '/backups/restore'],
      ['browse', browsePath],
      ['access', '/backups/access'],
    ]
    const adminPages = [
      ['admin-tenants', '/admin/tenants'],
      ['admin-runner', '/admin/runner'],
      ['admin-destinations', '/admin/destinations'],
      ['admin-policies', '/admin/policies'],
    ]

    /** The page's width in CSS pixels: more than the viewport means it scrolls sideways. */
    const pageWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth)

    async function bothWidths(page: Page, name: string, path: string) {
      await page.setViewportSize(PHONE)
      await page.goto(`${server.url}${path}`)
      const narrow = await pageWidth(page)
      await shot(page, `layout-${name}-390`)
      await page.setViewportSize(WIDE)
      await page.goto(`${server.url}${path}`)
      await shot(page, `layout-${name}-1280`)
      return narrow
    }

    it('fits every main page in 390 px, with screenshots at 390 and 1280', async () => {
      const wide: string[] = []
      for (const [name, path] of tenantPages()) {
        const width = await bothWidths(tenant, name!, path!)
        if (width > PHONE.width) wide.push(`${name} (${path}): ${width} px`)
      }
      for (const [name, path] of adminPages) {
        const width = await bothWidths(admin, name!, path!)
        if (width > PHONE.width) wide.push(`${name} (${path}): ${width} px`)
      }
      expect(wide, 'pages wider than the phone').toEqual([])
    })

    it('folds the menu into one button on a phone; it opens without JavaScript', async () => {
      const phone = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false })
      const page = await phone.newPage()
      await signIn(page, server.url, 'alice')
      await page.waitForURL('**/backups')
      expect(await page.locator('.nav-main').isVisible()).toBe(false)
      const menu = page.locator('.nav-menu summary')
      expect((await menu.textContent())!.trim()).toBe('Menu: Overview')
      expect(await page.locator('.nav-menu nav a', { hasText: 'Destinations' }).isVisible()).toBe(
        false,
      )
      await menu.click()
      await shot(page, 'layout-menu-open-390')
      await page.locator('.nav-menu nav a', { hasText: 'Destinations' }).click()
      await page.waitForURL('**/backups/destinations')
      expect((await page.locator('.nav-menu summary').textContent())!.trim()).toBe(
        'Menu: Destinations',
      )
      expect(await pageWidth(page)).toBeLessThanOrEqual(PHONE.width)
      await phone.close()
    })

    it('asks on a page before deleting or revoking when JavaScript is off, at both widths', async () => {
      const plain = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false })
      const page = await plain.newPage()
      await signIn(page, server.url, 'alice')
      await page.waitForURL('**/backups')
      await page.goto(`${server.url}/backups/destinations`)
      await page.locator('tr:has-text("Spare disk") button:has-text("Delete")').click()
      await page.waitForSelector('h1:has-text("Delete the destination “Spare disk”?")')
      expect(await page.textContent('main')).toContain(
        'Backups already stored there are not deleted',
      )
      expect(await pageWidth(page)).toBeLessThanOrEqual(PHONE.width)
      await shot(page, 'layout-confirm-delete-390')
      await page.setViewportSize(WIDE)
      await shot(page, 'layout-confirm-delete-1280')
      // Cancel goes back and deletes nothing.
      await page.click('a:has-text("Cancel")')
      await page.waitForURL('**/backups/destinations')
      expect(await page.textContent('main')).toContain('Spare disk')
      await page.locator('tr:has-text("Spare disk") button:has-text("Delete")').click()
      await page.click('button:has-text("Yes, delete the destination")')
      await page.waitForSelector('text=Destination “Spare disk” deleted.')
      expect(await page.locator(`a[href="/backups/destinations/${spareId}"]`).count()).toBe(0)

      await page.goto(`${server.url}/backups/access`)
      await page.locator('#api-keys button:has-text("Revoke")').click()
      await page.waitForSelector(`h1:has-text("Revoke the API key “${keyName}”?")`)
      await page.click('button:has-text("Yes, revoke the key")')
      await page.waitForSelector(`text=Key “${keyName}” revoked.`)
      await plain.close()
    })

    it('shows the pull script with this panel’s address and copies the recovery kit', async () => {
      await tenant.setViewportSize(WIDE)
      await tenant.goto(`${server.url}/backups/access`)
      const settings = (await tenant.textContent('[data-testid=pull-settings]'))!
      expect(settings).toContain(`PANEL_URL=${server.url}\n`)
      expect(await tenant.textContent('main')).not.toContain('README')
      await tenant.click('button:has-text("Copy script")')
      await tenant.waitForSelector('#pull-script .copy-status:has-text("Copied.")')
      const script = await tenant.evaluate(() => navigator.clipboard.readText())
      expect(script.startsWith('#!/usr/bin/env bash')).toBe(true)
      expect(script).toContain(`#   PANEL_URL=${server.url}`)
      await shot(tenant, 'layout-access-pull-1280')

      await tenant.goto(`${server.url}/backups/recovery`)
      await tenant.fill('#f-password', PASSWORD)
      await tenant.click('button:has-text("Show recovery kit")')
      const password = (await tenant.textContent('[data-testid=kit-password]'))!.trim()
      await tenant.click('button:has-text("Copy password")')
      await tenant.waitForSelector('.kit .copy-status:has-text("Copied.")')
      expect(await tenant.evaluate(() => navigator.clipboard.readText())).toBe(password)
      const kit = (await tenant.textContent('.kit'))!
      expect(kit).toContain('only the server’s administrator can open')
      expect(kit).not.toContain('copy it anywhere')
      await shot(tenant, 'layout-recovery-kit-1280')
      await tenant.setViewportSize(PHONE)
      expect(await pageWidth(tenant)).toBeLessThanOrEqual(PHONE.width)
      await shot(tenant, 'layout-recovery-kit-390')
      await tenant.setViewportSize(WIDE)
    })

    it('carries the brand: name, accent colour, favicon', async () => {
      const res = await fetch(`${server.url}/favicon.ico`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('image/x-icon')
      const page = await browser.newPage({ viewport: WIDE })
      await page.goto(`${server.url}/login`)
      expect(await page.title()).toBe('Sign in · Backups')
      expect(await page.textContent('.auth-brand')).toContain('Backups')
      await page.goto(`${branded.url}/login`)
      expect(await page.title()).toBe('Sign in · Acme Hosting')
      expect((await page.textContent('.auth-brand'))!.trim()).toBe('◆ Acme Hosting')
      const button = page.locator('button:has-text("Sign in")')
      // A light accent gets dark text on it, so the button stays readable.
      expect(await button.evaluate((b) => getComputedStyle(b).backgroundColor)).toBe(
        'rgb(242, 194, 0)',
      )
      expect(await button.evaluate((b) => getComputedStyle(b).color)).toBe('rgb(0, 0, 0)')
      await signIn(page, branded.url, 'alice')
      await page.waitForURL('**/backups')
      expect((await page.textContent('.sidebar .brand'))!.trim()).toBe('◆ Acme Hosting')
      await shot(page, 'layout-brand-1280')
      await page.setViewportSize(PHONE)
      await shot(page, 'layout-brand-390')
      await page.close()
    })

    it('has no serious or critical axe-core findings on the main pages', async () => {
      const findings: string[] = []
      const check = async (page: Page, name: string, path: string | null) => {
        if (path) await page.goto(`${server.url}${path}`)
        const result = await new AxeBuilder({ page }).analyze()
        for (const v of result.violations) {
          if (!BLOCKING.has(v.impact ?? '')) continue
          const where = v.nodes.map((n) => n.target.join(' ')).join(', ')
          findings.push(`${name}: ${v.id} (${v.impact}) ${v.help} at ${where}`)
        }
      }
      for (const size of [WIDE, PHONE]) {
        await tenant.setViewportSize(size)
        await admin.setViewportSize(size)
        for (const [name, path] of tenantPages()) await check(tenant, name!, path!)
        await tenant.goto(`${server.url}/backups/recovery`)
        await check(tenant, 'recovery', null)
        await tenant.fill('#f-password', PASSWORD)
        await tenant.click('button:has-text("Show recovery kit")')
        await tenant.waitForSelector('.kit')
        await check(tenant, 'recovery kit', null)
        for (const [name, path] of adminPages) await check(admin, name!, path!)
      }
      // Beyond the main pages, the forms with the most fields.
      await tenant.setViewportSize(WIDE)
      await admin.setViewportSize(WIDE)
      for (const path of ['/backups/notifications', '/backups/activity-log'])
        await check(tenant, path, path)
      await check(tenant, 'new policy', `${policiesPath}/new`)
      await check(tenant, 'new Local destination', '/backups/destinations/new/local')
      for (const path of [`/admin/tenants/${aliceId}`, '/admin/settings', '/admin/audit'])
        await check(admin, path, path)
      expect(findings).toEqual([])
    }, 120_000)
  },
)
