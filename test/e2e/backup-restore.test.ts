import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync, existsSync } from 'node:fs'
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
  'back up and restore in Chromium',
  () => {
    const deps = freshDeps()
    let server: Panel
    let url = ''
    let browser: Browser
    let page: Page
    let home = ''
    let maria: MariaDbServer
    let shopId = 0

    beforeAll(async () => {
      const t = await realTenant(deps, 'shop', {
        'public_html/index.html': '<h1>Shop v1</h1>\n',
        'public_html/img/logo.svg': '<svg/>\n',
      })
      home = t.home
      maria = await startMariaDb()
      await maria.createDatabase('shop', 'shopuser', 'shop db password')
      await maria.sql(
        'CREATE TABLE orders (id INT PRIMARY KEY); INSERT INTO orders VALUES (1),(2),(3);',
        'shop',
      )
      await maria.sql("GRANT ALL ON `shop\\_restored`.* TO 'shopuser'@'%'")
      const shop = await assignDatabase(deps.db, deps.config.secretKey, t.tenant.id, {
        engine: 'mariadb',
        name: 'shop',
        host: '127.0.0.1',
        port: String(maria.port),
        username: 'shopuser',
        password: 'shop db password',
      })
      shopId = shop.id
      const dest = await localDestination(deps, t.tenant.id, 'nightly', 'On this server')
      await policy(deps, t.tenant.id, [dest.id], { name: 'Nightly', databaseIds: [shop.id] })
      server = await servePanel(deps)
      url = server.url
      browser = await launch()
      page = await browser.newPage({
        viewport: { width: 1280, height: 860 },
        acceptDownloads: true,
      })
      page.setDefaultTimeout(20_000)
    })
    afterAll(async () => {
      await browser?.close()
      await stopPanel(server)
      await maria?.stop()
      removeUsers()
    })

    it('backs up now with visible progress and a green result', async () => {
      await signIn(page, url, 'shop')
      await page.click('button:has-text("Back up now")')
      await page.waitForSelector('#activity .activity progress')
      await shot(page, '20-backup-running')
      await page.waitForSelector('td >> .badge-ok', { timeout: 60_000 })
      expect(await page.textContent('tbody')).toContain('Healthy')
      await shot(page, '21-overview-after-backup')
      await page.click('a:has-text("#")')
      await page.waitForSelector('td.strong:text-is("Backup")')
      expect(await page.textContent('main')).toContain('stored on On this server')
      await shot(page, '22-run-detail')
    })

    it('restores one file into a new folder and downloads a folder as tar', async () => {
      await page.click('nav >> text=Restore')
      await page.click('a.button:has-text("Browse & restore")')
      await page.waitForSelector('h1:has-text("Backup of")')
      await page.click('#tree a.folder:text-is("public_html")')
      await page.waitForSelector('#tree [aria-current=page]:text-is("public_html")')
      await page.check('[aria-label="Tick index.html"]')
      await shot(page, '23-browse-snapshot')
      // Back in the home folder the tick rides along, and public_html downloads as a .tar.
      await page.click('#tree .crumbs a:text-is("Home folder")')
      await page.waitForSelector('.also-ticked label:text-is("public_html/index.html")')
      const download = page.waitForEvent('download')
      await page.click('#tree tr:has(a.folder:text-is("public_html")) a:text-is("Download")')
      const tar = await download
      expect(tar.suggestedFilename()).toMatch(
        /^shop-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}-public_html\.tar$/,
      )
      expect(readFileSync((await tar.path())!).includes('<h1>Shop v1</h1>')).toBe(true)
      await page.fill('#f-newName-folder', 'from-backup')
      await page.click('button:has-text("Restore files")')
      await page.waitForSelector('text=Restore queued')
      const target = join(home, 'from-backup', 'public_html', 'index.html')
      for (let i = 0; i < 100 && !existsSync(target); i++)
        await new Promise((r) => setTimeout(r, 200))
      expect(readFileSync(target, 'utf8')).toBe('<h1>Shop v1</h1>\n')
      expect(existsSync(join(home, 'from-backup', 'public_html', 'img'))).toBe(false)
      // The Overview reloads itself when the restore job ends; the history then shows it green.
      await page.waitForSelector('tr:has(td:text-is("Restore")) >> .badge-ok', { timeout: 30_000 })
      await shot(page, '24-after-restore')
    })

    it('restores the database under a new name through the page', async () => {
      await page.click('nav >> text=Restore')
      await page.click('a.button:has-text("Browse & restore")')
      await page.waitForSelector('#databases h3:has-text("shop")')
      expect(await page.textContent('#databases h3')).toContain('MariaDB')
      await page.fill(`#f-newName-db-${shopId}`, 'shop_restored')
      await shot(page, '25-restore-database')
      await page.click('button:text-is("Restore shop")')
      await page.waitForSelector('text=Restore queued')
      let count = ''
      for (let i = 0; i < 150 && count !== '3'; i++) {
        count = (
          await maria.sql('SELECT COUNT(*) FROM orders', 'shop_restored').catch(() => '')
        ).trim()
        if (count !== '3') await new Promise((r) => setTimeout(r, 200))
      }
      expect(count).toBe('3')
      await page.waitForSelector('tr:has(td:text-is("Restore")) >> nth=0 >> .badge-ok')
      await shot(page, '26-after-database-restore')
    })
  },
)
