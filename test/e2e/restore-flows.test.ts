import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { Browser, Download, Page } from 'playwright-core'
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
import { requirePostgres, startPostgres, type PostgresServer } from '../services/postgres.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import { updateTenant } from '../../src/db/tenants.ts'
import { safetyLabel } from '../../views/restore.tsx'
import { catalogOf } from '../../src/db/snapshots.ts'

/** Not UTC and not a whole hour off it, so a time shown in the wrong zone cannot pass. */
const ZONE = 'Asia/Kolkata'
const WIDE = { width: 1280, height: 860 }
const NARROW = { width: 390, height: 844 }
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(4000)])

/** Date parts of `at` in ZONE, written out here rather than taken from the views. */
function partsIn(at: Date, opts: Intl.DateTimeFormatOptions) {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: ZONE,
    hourCycle: 'h23',
    ...opts,
  }).formatToParts(at)
  return (type: string) => parts.find((p) => p.type === type)!.value
}
const clock = { hour: '2-digit', minute: '2-digit' } as const
const digits = { year: 'numeric', month: '2-digit', day: '2-digit', ...clock } as const

/** "Tue 3 Dec 2026, 14:05": how the Restore pages name a backup. */
function when(at: Date): string {
  const p = partsIn(at, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    ...clock,
  })
  return `${p('weekday')} ${p('day')} ${p('month')} ${p('year')}, ${p('hour')}:${p('minute')}`
}

/** "3 Dec 2026, 14:05": file times and safety copies. */
function dayTime(at: Date): string {
  const p = partsIn(at, { day: 'numeric', month: 'short', year: 'numeric', ...clock })
  return `${p('day')} ${p('month')} ${p('year')}, ${p('hour')}:${p('minute')}`
}

/** "2026-12-03-1405". */
function stamp(at: Date): string {
  const p = partsIn(at, digits)
  return `${p('year')}-${p('month')}-${p('day')}-${p('hour')}${p('minute')}`
}

describe.runIf(browserAvailable() && rootAvailable() && requireMariaDb() && requirePostgres())(
  'restore flows in Chromium',
  () => {
    const deps = freshDeps()
    let server: Panel
    let url = ''
    let browser: Browser
    let page: Page
    let home = ''
    let uid = 0
    let tenantId = 0
    let maria: MariaDbServer
    let pg: PostgresServer
    let shopId = 0
    let blogId = 0
    let indexMtime = new Date(0)
    /** The policy backup, and the address of its browse page. */
    let backup = { time: new Date(0), base: '' }
    /** Restore runs so far: each restore adds one to the Overview's history. */
    let restores = 0

    beforeAll(async () => {
      const t = await realTenant(deps, 'studio', {
        'public_html/index.html': '<h1>Studio v1</h1>\n',
        'public_html/about.html': '<p>About v1</p>\n',
        'public_html/assets/css/palette.css': ':root { --brand: #0a6; }\n',
        'docs/Preisliste März.pdf': PDF,
      })
      ;[home, uid, tenantId] = [t.home, t.uid, t.tenant.id]
      await updateTenant(deps.db, tenantId, { homeDir: home, systemUser: t.user, timezone: ZONE })
      indexMtime = statSync(join(home, 'public_html/index.html')).mtime
      maria = await startMariaDb()
      await maria.createDatabase('shop', 'shopuser', 'shop db password')
      await maria.sql(
        "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40)); INSERT INTO orders VALUES (1,'tea'),(2,'cups'),(3,'pot');",
        'shop',
      )
      await maria.sql("GRANT ALL ON `shop\\_restored\\_%`.* TO 'shopuser'@'%'")
      pg = await startPostgres()
      await pg.createDatabase('blog', 'bloguser', 'blog db password')
      await pg.sql('ALTER ROLE bloguser CREATEDB')
      await pg.sql(
        "SET ROLE bloguser; CREATE TABLE posts (id int PRIMARY KEY, title text); INSERT INTO posts VALUES (1, 'Hello'), (2, 'Opening hours');",
        'blog',
      )
      shopId = (
        await assignDatabase(deps.db, deps.config.secretKey, tenantId, {
          host: '127.0.0.1',
          engine: 'mariadb',
          name: 'shop',
          port: String(maria.port),
          username: 'shopuser',
          password: 'shop db password',
        })
      ).id
      blogId = (
        await assignDatabase(deps.db, deps.config.secretKey, tenantId, {
          host: '127.0.0.1',
          engine: 'postgresql',
          name: 'blog',
          port: String(pg.port),
          username: 'bloguser',
          password: 'blog db password',
        })
      ).id
      const dest = await localDestination(deps, tenantId, 'nightly', 'On this server')
      await policy(deps, tenantId, [dest.id], { name: 'Nightly', databaseIds: [shopId, blogId] })
      server = await servePanel(deps)
      url = server.url
      browser = await launch()
      page = await browser.newPage({ viewport: WIDE, acceptDownloads: true })
      page.setDefaultTimeout(30_000)
    }, 120_000)

    afterAll(async () => {
      await browser?.close()
      await stopPanel(server)
      await maria?.stop()
      await pg?.stop()
      removeUsers()
    })

    /** Saves the page at 1280 px and, with `narrow`, at 390 px too. */
    async function shots(name: string, narrow = false) {
      await shot(page, `flows-${name}-1280`)
      if (!narrow) return
      await page.setViewportSize(NARROW)
      await shot(page, `flows-${name}-390`)
      // On a phone the page itself never scrolls sideways (wide tables scroll in their card).
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBe(NARROW.width)
      await page.setViewportSize(WIDE)
    }

    async function openBackup() {
      await page.goto(url + backup.base)
      await page.waitForSelector(`h1:text-is("Backup of ${when(backup.time)}")`)
    }

    /** Clicks `link` and resolves with the download it starts. */
    async function download(link: string): Promise<{ d: Download; bytes: Buffer }> {
      const started = page.waitForEvent('download')
      await page.click(link)
      const d = await started
      const failure = await d.failure()
      if (failure) throw new Error(`download of ${d.suggestedFilename()} failed: ${failure}`)
      return { d, bytes: readFileSync((await d.path())!) }
    }

    /**
     * After a restore was queued: waits on the Overview (it reloads itself when the job ends)
     * until the newest Restore run has ended, then opens that run and returns its page text.
     */
    async function restoreRun(): Promise<string> {
      await page.waitForSelector('.flash:text-is("Restore queued: progress shows below.")')
      restores += 1
      const rows = page.locator('tr:has(td:text-is("Restore"))')
      const deadline = Date.now() + 150_000
      let status = ''
      for (;;) {
        try {
          if ((await rows.count()) === restores) {
            status = ((await rows.first().locator('.badge').textContent()) ?? '').trim()
            if (!['Running', 'Queued', 'Pending'].includes(status)) break
          }
          // Between two polls the Overview may have missed the job: ask again.
          if ((await page.locator('#activity .activity').count()) === 0) await page.reload()
        } catch {
          // the page was reloading itself
        }
        if (Date.now() > deadline) throw new Error(`restore ${restores} still "${status}"`)
        await page.waitForTimeout(500)
      }
      await shots(`run-${restores}-overview`)
      await rows.first().locator('a').click()
      await page.waitForSelector('h1:has-text("Restore run #")')
      const text = (await page.textContent('main')) ?? ''
      expect(status, text).toBe('Succeeded')
      return text
    }

    it('backs up, then lists the backup by date in the tenant’s time zone', async () => {
      await signIn(page, url, 'studio')
      await page.click('button:has-text("Back up now")')
      await page.waitForSelector('td >> .badge-ok', { timeout: 90_000 })
      const snap = (await catalogOf(deps.db, tenantId)).find((s) => s.kind === 'policy')!
      expect(snap.databases.sort()).toEqual(['mariadb-shop', 'postgresql-blog'])
      backup = {
        time: snap.time,
        base: `/backups/restore/${snap.destinationId}/${snap.snapshotId}`,
      }
      // What a restore will be able to undo.
      writeFileSync(join(home, 'public_html/index.html'), '<h1>Studio v2, broken</h1>\n')
      writeFileSync(join(home, 'public_html/about.html'), '<p>About v2</p>\n')
      writeFileSync(join(home, 'public_html/new-since.html'), 'added after the backup\n')
      chownSync(join(home, 'public_html/new-since.html'), uid, uid)
      await maria.sql("INSERT INTO orders VALUES (4,'kettle')", 'shop')
      await pg.sql("INSERT INTO posts VALUES (3, 'Written after the backup')", 'blog')

      await page.click('nav >> text=Restore')
      await page.waitForSelector('h1:text-is("Restore")')
      expect(await page.textContent('.zone-note')).toContain(`Times are in ${ZONE}`)
      const row = page.locator('.restore-dest tbody tr')
      expect(await row.count()).toBe(1)
      expect(await row.locator('a.snap-when').textContent()).toBe(when(backup.time))
      expect(await row.locator('td').nth(1).textContent()).toBe('Nightly')
      expect(await page.locator('h2:text-is("Safety copies")').count()).toBe(0)
      await shots('1-list', true)
    }, 120_000)

    it('opens the backup: files and databases, times in the tenant’s zone', async () => {
      await page.click('.restore-dest a.button:text-is("Browse & restore")')
      await page.waitForSelector(`h1:text-is("Backup of ${when(backup.time)}")`)
      expect(page.url()).toBe(url + backup.base)
      const facts = (await page.textContent('.snap-facts')) ?? ''
      expect(facts).toContain('On this server')
      expect(facts).toContain('Nightly')
      expect(await page.textContent('.zone-note')).toContain(`Times are in ${ZONE}`)
      const folders = await page.locator('#tree a.folder').allTextContents()
      expect(folders).toEqual(expect.arrayContaining(['docs', 'public_html']))
      const heads = await page.locator('#databases h3').allTextContents()
      expect(heads.map((h) => h.replace(/\s+/g, ' ').trim()).sort()).toEqual([
        'blog PostgreSQL',
        'shop MariaDB',
      ])
      await shots('2-browse', true)
      await page.click('#tree a.folder:text-is("public_html")')
      await page.waitForSelector('#tree [aria-current=page]:text-is("public_html")')
      expect(page.url()).toContain('?dir=')
      const index = page.locator('#tree tr:has(label:text-is("index.html"))')
      expect(await index.locator('.col-mtime').textContent()).toBe(dayTime(indexMtime))
      await shots('3-folder')
    })

    it('(b) restores a folder into a new folder under the suggested name', async () => {
      await openBackup()
      const suggested = `restored-${stamp(backup.time)}`
      expect(await page.inputValue('#f-newName-folder')).toBe(suggested)
      expect(await page.textContent('#files .restore-target')).toContain(
        `${suggested}/public_html/…`,
      )
      await page.check('[aria-label="Tick public_html"]')
      await shots('4-new-folder')
      await page.click('button:text-is("Restore files")')
      const run = await restoreRun()
      expect(run).toContain(`Restored 1 path(s) into ${suggested}.`)
      await shots('4-new-folder-run')
      const copy = join(home, suggested, 'public_html')
      expect(readFileSync(join(copy, 'index.html'), 'utf8')).toBe('<h1>Studio v1</h1>\n')
      expect(readFileSync(join(copy, 'about.html'), 'utf8')).toBe('<p>About v1</p>\n')
      expect(existsSync(join(copy, 'assets/css/palette.css'))).toBe(true)
      expect(existsSync(join(copy, 'new-since.html'))).toBe(false)
      expect(existsSync(join(home, suggested, 'docs'))).toBe(false)
      expect(statSync(join(copy, 'index.html')).uid).toBe(uid)
      // Nothing the tenant has now was touched.
      const live = readFileSync(join(home, 'public_html/index.html'), 'utf8')
      expect(live).toBe('<h1>Studio v2, broken</h1>\n')
    }, 180_000)

    it('(a) restores a file in place after confirming, keeping a safety copy', async () => {
      await openBackup()
      await page.click('#tree a.folder:text-is("public_html")')
      await page.waitForSelector('#tree [aria-current=page]:text-is("public_html")')
      await page.check('[aria-label="Tick index.html"]')
      await page.check('#f-newName-folder-inplace')
      await page.click('button:text-is("Restore files")')
      await page.waitForSelector('h1:text-is("Overwrite with the backup copy?")')
      expect(await page.textContent('.lead')).toBe(
        `From the backup of ${when(backup.time)} (${ZONE}), destination “On this server”.`,
      )
      expect(await page.locator('.confirm-list li').allTextContents()).toEqual([
        'public_html/index.html',
      ])
      expect(await page.textContent('.safety-note')).toContain('A safety copy is taken first')
      await shots('5-confirm-files', true)
      // Nothing is queued until the tenant says yes.
      expect(readFileSync(join(home, 'public_html/index.html'), 'utf8')).toContain('v2')
      await page.click('button:text-is("Yes, overwrite")')
      const run = await restoreRun()
      expect(run).toContain('Restored 1 path(s) in place.')
      expect(run).toContain('Restore > Safety copies, “Before restoring public_html/index.html”')
      await shots('5-in-place-run')
      expect(readFileSync(join(home, 'public_html/index.html'), 'utf8')).toBe(
        '<h1>Studio v1</h1>\n',
      )
      expect(statSync(join(home, 'public_html/index.html')).uid).toBe(uid)
      // Only the ticked file came back: the rest stays as the tenant left it.
      expect(readFileSync(join(home, 'public_html/about.html'), 'utf8')).toBe('<p>About v2</p>\n')
      expect(existsSync(join(home, 'public_html/new-since.html'))).toBe(true)

      await page.click('nav >> text=Restore')
      await page.waitForSelector('h2:text-is("Safety copies")')
      const safety = (await catalogOf(deps.db, tenantId)).filter((s) => s.kind === 'safety')
      expect(safety).toHaveLength(1)
      // Named for what it kept, as the run page said.
      const link = page.locator('a.snap-when:has-text("Before restoring")')
      expect(await link.allTextContents()).toEqual([
        `Before restoring public_html/index.html on ${dayTime(safety[0]!.time)}`,
      ])
      // The regular list still holds just the one backup.
      expect(await page.locator('.restore-dest tbody tr:has-text("Nightly")').count()).toBe(1)
      await shots('6-list-safety')
      // The safety copy holds the file as it was just before: v2.
      await link.click()
      await page.waitForSelector('h1:has-text("Safety copy: before a restore on")')
      await page.click('#tree a.folder:text-is("public_html")')
      await page.waitForSelector('#tree label:text-is("index.html")')
      expect(await page.locator('#tree label.node-name').allTextContents()).toEqual(['index.html'])
      await shots('6-safety-browse')
      const { d, bytes } = await download(
        '#tree tr:has(label:text-is("index.html")) a:text-is("Download")',
      )
      expect(d.suggestedFilename()).toBe('index.html')
      expect(bytes.toString()).toBe('<h1>Studio v2, broken</h1>\n')
    }, 180_000)

    it('(f) finds a nested file by name, ticks it there and restores it', async () => {
      await openBackup()
      await page.fill('input[name=q]', 'palette')
      await page.click('#tree button:text-is("Search")')
      await page.waitForSelector('.tree-note:has-text("across the whole backup")')
      expect(await page.textContent('.tree-note')).toContain(
        '1 match for “palette” across the whole backup.',
      )
      expect(page.url()).toContain('q=palette')
      const hit = page.locator('#tree tbody tr')
      expect(await hit.count()).toBe(1)
      expect(await hit.locator('.in-folder').textContent()).toBe('in public_html/assets/css')
      await page.check('[aria-label="Tick palette.css"]')
      await page.fill('#f-newName-folder', 'found-palette')
      await shots('7-search')
      await page.click('button:text-is("Restore files")')
      const run = await restoreRun()
      expect(run).toContain('Restored 1 path(s) into found-palette.')
      const found = join(home, 'found-palette', 'public_html')
      expect(readFileSync(join(found, 'assets/css/palette.css'), 'utf8')).toBe(
        ':root { --brand: #0a6; }\n',
      )
      expect(existsSync(join(found, 'index.html'))).toBe(false)
    }, 180_000)

    it('(g) downloads a single file under its own name', async () => {
      await openBackup()
      await page.click('#tree a.folder:text-is("docs")')
      await page.waitForSelector('#tree label:text-is("Preisliste März.pdf")')
      await shots('8-file-download')
      const row = '#tree tr:has(label:text-is("Preisliste März.pdf"))'
      const { d, bytes } = await download(`${row} a:text-is("Download")`)
      expect(d.suggestedFilename()).toBe('Preisliste März.pdf')
      expect(bytes.equals(PDF)).toBe(true)
    }, 60_000)

    it('(e) downloads each database as .sql.gz, as it was at the backup', async () => {
      await openBackup()
      const shop = await download(`#db-${shopId} a:text-is("Download .sql.gz")`)
      expect(shop.d.suggestedFilename()).toBe(`shop-${stamp(backup.time)}.sql.gz`)
      const shopSql = gunzipSync(shop.bytes).toString()
      expect(shopSql).toContain('CREATE TABLE `orders`')
      expect(shopSql).toContain("(3,'pot')")
      expect(shopSql).not.toContain('kettle')
      const blog = await download(`#db-${blogId} a:text-is("Download .sql.gz")`)
      expect(blog.d.suggestedFilename()).toBe(`blog-${stamp(backup.time)}.sql.gz`)
      const blogSql = gunzipSync(blog.bytes).toString()
      expect(blogSql).toContain('CREATE TABLE public.posts')
      expect(blogSql).toContain('Opening hours')
      expect(blogSql).not.toContain('Written after the backup')
    }, 60_000)

    it('(d) restores each database under a new name, leaving the original as it is', async () => {
      await openBackup()
      const suggested = `shop_restored_${stamp(backup.time).slice(0, 10).replace(/-/g, '')}`
      expect(await page.inputValue(`#f-newName-db-${shopId}`)).toBe(suggested)
      await shots('9-database-new-name')
      await page.click('button:text-is("Restore shop")')
      expect(await restoreRun()).toContain(`Database shop restored as ${suggested}.`)
      expect(await maria.sql('SELECT id FROM orders ORDER BY id', suggested)).toBe('1\n2\n3\n')
      expect(await maria.sql('SELECT id FROM orders ORDER BY id', 'shop')).toBe('1\n2\n3\n4\n')

      await openBackup()
      await page.fill(`#f-newName-db-${blogId}`, 'blog_copy')
      await page.click('button:text-is("Restore blog")')
      expect(await restoreRun()).toContain('Database blog restored as blog_copy.')
      await shots('9-database-new-name-run')
      expect(await pg.sql('SELECT id FROM posts ORDER BY id', 'blog_copy')).toBe('1\n2\n')
      expect(await pg.sql('SELECT id FROM posts ORDER BY id', 'blog')).toBe('1\n2\n3\n')
    }, 240_000)

    it('(c) restores each database in place after confirming, keeping a safety copy', async () => {
      for (const [id, name, engine] of [
        [blogId, 'blog', 'PostgreSQL'],
        [shopId, 'shop', 'MariaDB'],
      ] as const) {
        await openBackup()
        await page.check(`#f-newName-db-${id}-inplace`)
        await page.click(`button:text-is("Restore ${name}")`)
        await page.waitForSelector('h1:text-is("Overwrite with the backup copy?")')
        const what = (await page.textContent('.confirm-what'))?.replace(/\s+/g, ' ')
        expect(what).toContain(`The database ${name} (${engine}): its contents are replaced`)
        await shots(`10-confirm-${name}`, name === 'shop')
        await page.click('button:text-is("Yes, overwrite")')
        const run = await restoreRun()
        expect(run).toContain(`Database ${name} restored in place.`)
        expect(run).toContain(`Restore > Safety copies, “Before restoring ${name}”`)
      }
      await shots('10-database-in-place-run')
      // The rows written after the backup are gone from the live databases.
      expect(await pg.sql('SELECT id FROM posts ORDER BY id', 'blog')).toBe('1\n2\n')
      expect(await maria.sql('SELECT id FROM orders ORDER BY id', 'shop')).toBe('1\n2\n3\n')

      await page.click('nav >> text=Restore')
      await page.waitForSelector('h2:text-is("Safety copies")')
      const safety = (await catalogOf(deps.db, tenantId)).filter((s) => s.kind === 'safety')
      expect(safety).toHaveLength(3)
      const links = page.locator('a.snap-when:has-text("Before restoring")')
      expect(await links.allTextContents()).toEqual(
        safety.map((s) => `${safetyLabel(s, home)} on ${dayTime(s.time)}`),
      )
      expect(await links.first().textContent()).toContain('Before restoring shop on')
      await shots('11-list-safety-copies', true)
      // The newest, taken before shop was overwritten, holds shop as it was: with the kettle.
      await links.first().click()
      await page.waitForSelector('h1:has-text("Safety copy: before a restore on")')
      // Its file list is read by the runner first (a progress bar), then the page reloads.
      await page.waitForSelector(
        '#files:has-text("This backup holds no files from your home folder.")',
        { timeout: 30_000 },
      )
      expect(await page.locator('#databases h3').allTextContents()).toEqual([
        expect.stringContaining('shop'),
      ])
      expect(await page.textContent('#databases')).toContain('Not in this backup: blog.')
      await shots('11-safety-database')
      const kept = await download(`#db-${shopId} a:text-is("Download .sql.gz")`)
      expect(kept.d.suggestedFilename()).toBe(`shop-${stamp(safety[0]!.time)}.sql.gz`)
      expect(gunzipSync(kept.bytes).toString()).toContain("(4,'kettle')")
    }, 300_000)
  },
)
