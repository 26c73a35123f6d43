import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { and, eq } from 'drizzle-orm'
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
import { PASSWORD, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
} from '../support/tenants.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { tenantHealthOf } from '../../src/db/health-list.ts'
import { repositories, runs } from '../../src/db/schema.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { startRunner } from '../../src/runner/runner.ts'

/** Waits until `check` returns a value (the runner works in the background). */
async function until<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 90_000,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe.runIf(browserAvailable() && rootAvailable())(
  'admin finds a failing tenant in Chromium',
  () => {
    const deps = freshDeps()
    let server: Panel
    let url = ''
    let browser: Browser
    let page: Page
    let good: Awaited<ReturnType<typeof realTenant>>
    let broken: Awaited<ReturnType<typeof realTenant>>

    beforeAll(async () => {
      await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
      // Real backups through the real runner: one tenant backs up fine, the other's database
      // dump cannot reach its server (nothing listens on port 9), so its run fails honestly.
      good = await realTenant(deps, 'goodco', { 'public_html/index.html': '<h1>Good</h1>\n' })
      broken = await realTenant(deps, 'brokenco', { 'public_html/index.html': '<h1>Broken</h1>\n' })
      const shop = await assignDatabase(deps.db, deps.config.secretKey, broken.tenant.id, {
        engine: 'mariadb',
        name: 'brokenshop',
        host: '127.0.0.1',
        port: '9',
        username: 'shop',
        password: 'shop password',
      })
      const goodPolicy = await policy(deps, good.tenant.id, [
        (await localDestination(deps, good.tenant.id, 'nightly', 'On this server')).id,
      ])
      const brokenPolicy = await policy(
        deps,
        broken.tenant.id,
        [(await localDestination(deps, broken.tenant.id, 'nightly', 'On this server')).id],
        { databaseIds: [shop.id] },
      )
      const runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
      try {
        await requestBackup(deps.db, good.tenant.id, goodPolicy, 'manual')
        await requestBackup(deps.db, broken.tenant.id, brokenPolicy, 'manual')
        const finished = async (tenantId: number, status: 'success' | 'failed') =>
          (
            await deps.db
              .select()
              .from(runs)
              .where(and(eq(runs.tenantId, tenantId), eq(runs.status, status)))
          )[0]
        await until(() => finished(good.tenant.id, 'success'), 'the good backup')
        await until(() => finished(broken.tenant.id, 'failed'), 'the failing backup')
      } finally {
        await runner.stop()
      }
      // Pages only: no runner in the server, so the failing job's retry does not run meanwhile.
      server = await servePanel(deps, { PANEL_RUNNER: '0' })
      url = server.url
      browser = await launch()
      page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
      page.setDefaultTimeout(20_000)
    }, 180_000)

    afterAll(async () => {
      await browser?.close()
      await stopPanel(server)
      removeUsers()
    })

    it('records the stored size of a good backup (restic stats)', async () => {
      const repo = (
        await deps.db.select().from(repositories).where(eq(repositories.tenantId, good.tenant.id))
      )[0]!
      expect(repo.storedBytes).toBeGreaterThan(0)
      expect(repo.snapshotCount).toBe(1)
      expect(await tenantHealthOf(deps.db, good.tenant.id)).toMatchObject({
        storedBytes: repo.storedBytes,
        snapshotCount: 1,
        failingStreak: 0,
      })
    })

    it('filters to failing tenants, sees the reason, and opens the failing run', async () => {
      await signIn(page, url, 'boss')
      await page.goto(`${url}/admin/tenants`)
      await page.waitForSelector('#tenant-health table')
      expect(await page.textContent('#tenant-health tbody')).toContain('goodco')
      await shot(page, '50-admin-tenants-all')

      await page.click('.filter-tabs >> text=Failing')
      await page.waitForURL(/filter=failing/)
      await page.waitForFunction(
        () => !document.querySelector('#tenant-health tbody')?.textContent?.includes('goodco'),
      )
      const row = page.locator('tr.row-bad', { hasText: 'brokenco' })
      await expect(row.locator('.badge-bad').first().textContent()).resolves.toMatch(/Failing/)
      const reason = (await row.locator('.reason').textContent()) ?? ''
      expect(reason).toContain('brokenshop')
      await shot(page, '51-admin-tenants-failing')

      // The address is shareable: a plain load shows the same filtered table.
      await page.goto(page.url())
      expect(await page.textContent('#tenant-health tbody')).not.toContain('goodco')

      await page.click('a:has-text("brokenco")')
      await page.waitForURL(/\/admin\/tenants\/\d+\/runs$/)
      await shot(page, '52-admin-tenant-runs')
      await page.click('tr.row-bad a:has-text("Backup #")')
      await page.waitForURL(/\/runs\/\d+$/)
      const main = (await page.textContent('main')) ?? ''
      expect(main).toContain('Failed')
      expect(main).toContain('Dump of brokenshop failed')
      expect(main).not.toContain('shop password')
      await shot(page, '53-admin-failing-run')
    })

    it('searches by name with the filter kept', async () => {
      await page.goto(`${url}/admin/tenants?filter=failing`)
      await page.fill('input[name=q]', 'good')
      await page.waitForURL(/q=good/)
      expect(page.url()).toContain('filter=failing')
      await page.waitForSelector('#tenant-health >> text=No tenants match')
      await page.fill('input[name=q]', 'broken')
      await page.waitForURL(/q=broken/)
      await page.waitForSelector('#tenant-health tbody >> text=brokenco')
      // "co" matches both names: under Failing only brokenco shows; All brings goodco back
      // while keeping the search.
      await page.fill('input[name=q]', 'co')
      await page.waitForURL(/q=co(&|$)/)
      expect(page.url()).toContain('filter=failing')
      await page.waitForSelector('#tenant-health tbody >> text=brokenco')
      expect(await page.textContent('#tenant-health tbody')).not.toContain('goodco')
      await page.click('.filter-tabs >> text=All')
      await page.waitForURL(
        (u) => u.searchParams.get('q') === 'co' && !u.searchParams.has('filter'),
      )
      await page.waitForSelector('#tenant-health tbody >> text=goodco')
      expect(await page.textContent('#tenant-health tbody')).toContain('brokenco')
      await shot(page, '54-admin-tenants-search')
    })
  },
)
