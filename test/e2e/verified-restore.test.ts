import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
import { freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
} from '../support/tenants.ts'
import { requireMariaDb, startMariaDb, type MariaDbServer } from '../services/mariadb.ts'
import { assignDatabase } from '../../src/domain/databases.ts'

describe.runIf(browserAvailable() && rootAvailable() && requireMariaDb())(
  'a verified restore in Chromium',
  () => {
    const deps = freshDeps()
    let server: Panel
    let url = ''
    let browser: Browser
    let page: Page
    let maria: MariaDbServer

    beforeAll(async () => {
      const t = await realTenant(deps, 'bakery', {
        'public_html/index.html': '<h1>Bakery</h1>\n',
        'public_html/menu.txt': 'bread\n',
      })
      maria = await startMariaDb()
      await maria.createDatabase('bakery', 'bakeryuser', 'bakery db password')
      await maria.sql(
        'CREATE TABLE breads (id INT PRIMARY KEY); CREATE TABLE orders (id INT PRIMARY KEY);',
        'bakery',
      )
      await maria.sql("GRANT ALL ON `bakery\\_verify\\_%`.* TO 'bakeryuser'@'%'")
      const db = await assignDatabase(deps.db, deps.config.secretKey, t.tenant.id, {
        engine: 'mariadb',
        name: 'bakery',
        host: '127.0.0.1',
        port: String(maria.port),
        username: 'bakeryuser',
        password: 'bakery db password',
      })
      const dest = await localDestination(deps, t.tenant.id, 'nightly', 'On this server')
      await policy(deps, t.tenant.id, [dest.id], { name: 'Nightly', databaseIds: [db.id] })
      server = await servePanel(deps)
      url = server.url
      browser = await launch()
      page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
      page.setDefaultTimeout(30_000)
    }, 120_000)
    afterAll(async () => {
      await browser?.close()
      await stopPanel(server)
      await maria?.stop()
      removeUsers()
    })

    it('tests a restore on demand and shows the verified restore on the Overview', async () => {
      await signIn(page, url, 'bakery')
      expect(await page.textContent('tbody')).toContain('Not yet')
      await page.click('button:has-text("Back up now")')
      await page.waitForSelector('td >> .badge-ok', { timeout: 60_000 })
      await page.click('button:has-text("Test restore now")')
      await page.waitForSelector('#activity :text("Test restore of “Nightly”")')
      await shot(page, '50-test-restore-running')
      const cell = page.locator('a.verified')
      await cell.waitFor({ timeout: 90_000 })
      expect(await cell.textContent()).toContain('Restorable')
      expect(await cell.getAttribute('title')).toMatch(
        /^Restored 4 files \(.+\) in \d+ s; 4 sampled files match; bakery: 2 tables loaded\.$/,
      )
      expect(await page.textContent('main')).toContain('Test restore “Nightly”')
      await cell.hover()
      await shot(page, '51-overview-verified-restore')
      await cell.click()
      await page.waitForSelector('h1:has-text("Test restore run")')
      const main = await page.textContent('main')
      expect(main).toContain('Load bakery into a scratch database')
      expect(main).toContain('Sandbox removed.')
      await shot(page, '52-test-restore-run')
    }, 180_000)
  },
)
