import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CronExpressionParser } from 'cron-parser'
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
import { rootAvailable } from '../support/tenants.ts'
import { requireS3rver, startS3rver, type S3rverServer } from '../services/s3rver.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { findTenantByName } from '../../src/db/tenants.ts'
import { jobs, runs } from '../../src/db/schema.ts'
import { setAdminSetting } from '../../src/db/settings.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { tickScheduler } from '../../src/runner/scheduler.ts'
import { serverZone } from '../../src/zoned.ts'

/**
 * Issue 10 in Chromium: the admin adds a provider S3 destination (Test connection) and a
 * provider policy for all tenants, then a new tenant; the host's nightly window backs the
 * tenant up while the tenant does nothing; the tenant then finds the backup marked "Provided by
 * your host" and restores a file from it into a new folder, and downloads another.
 */

const MINUTE = 60_000
const FILES: Record<string, string> = {
  'public_html/index.html': '<h1>Carol’s bakery</h1>\n',
  'notes/recipes.txt': 'sourdough: 500 g flour, 350 g water, 10 g salt\n',
}

/** Waits until `check` returns a value (the served panel's runner works in the background). */
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

/** A full-page screenshot at 1280 px and at 390 px (a phone), then back to 1280. */
async function shots(page: Page, name: string) {
  await shot(page, `provider-${name}-1280`)
  await page.setViewportSize({ width: 390, height: 844 })
  await shot(page, `provider-${name}-390`)
  await page.setViewportSize({ width: 1280, height: 900 })
}

describe.runIf(browserAvailable() && rootAvailable() && requireS3rver())(
  'provider backups in Chromium: the host backs a new tenant up, the tenant restores',
  () => {
    const deps = freshDeps()
    // The hosting platform made the account: a system user owning a home with a site in it.
    const user = `pt-carol-${randomBytes(3).toString('hex')}`
    const home = mkdtempSync(join(tmpdir(), 'home-carol-'))
    let s3: S3rverServer
    let panel: Panel
    let browser: Browser
    let admin: Page
    let tenant: Page

    beforeAll(async () => {
      await insertAdmin(deps.db, 'root-admin', await hashPassword(PASSWORD))
      execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', home, user])
      for (const [rel, text] of Object.entries(FILES)) {
        mkdirSync(join(home, rel, '..'), { recursive: true })
        writeFileSync(join(home, rel), text)
      }
      execFileSync('chown', ['-R', `${user}:`, home])
      ;[s3, browser] = await Promise.all([startS3rver({ buckets: ['host-backups'] }), launch()])
      // The admin lets destinations reach the loopback S3 server past the outbound guard.
      await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1'])
      panel = await servePanel(deps)
      admin = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      admin.setDefaultTimeout(30_000)
      admin.on('dialog', (d) => d.accept())
      await signIn(admin, panel.url, 'root-admin')
      await admin.waitForURL('**/admin/tenants')
    }, 60_000)

    afterAll(async () => {
      await browser?.close()
      await stopPanel(panel)
      await s3?.stop()
      try {
        execFileSync('userdel', [user])
      } catch {
        // never created
      }
      rmSync(home, { recursive: true, force: true })
    })

    it('admin adds a provider S3 destination and tests the connection', async () => {
      await admin.click('nav >> text=Destinations')
      await admin.waitForURL('**/admin/destinations')
      await admin.click('a:has-text("Add destination") >> nth=0')
      await admin.click('.type-card:has(.type-name:text-is("S3"))')
      await admin.fill('#f-name', 'Host S3')
      await admin.fill('#f-s-bucket', 'host-backups')
      await admin.fill('#f-s-accessKeyId', s3.accessKeyId)
      await admin.fill('#f-s-secretAccessKey', s3.secretAccessKey)
      await admin.fill('#f-s-endpoint', s3.endpoint)
      await admin.selectOption('#f-s-endpointProtocol', 'http')
      const answered = admin.waitForResponse(
        (r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/test'),
      )
      await admin.click('button:has-text("Test connection")')
      await answered
      const box = admin.locator('#test-result.flash-ok')
      await box.waitFor()
      expect(await box.textContent()).toContain('Connected')
      await shots(admin, '1-destination-tested')
      await admin.click('button:has-text("Add destination")')
      await admin.waitForSelector('text=Destination “Host S3” added.')
      await shots(admin, '2-destinations')
    })

    it('admin adds a provider policy for all tenants through the form', async () => {
      await admin.click('nav >> text=Backup policies')
      await admin.click('a:has-text("New policy") >> nth=0')
      await admin.fill('#f-name', 'Nightly by the host')
      expect(await admin.isChecked('#f-scope-all')).toBe(true)
      await admin.check('.check:has(label:has-text("Host S3")) >> input')
      expect(await admin.inputValue('#f-windowStart')).toBe('01:00')
      expect(await admin.inputValue('#f-windowEnd')).toBe('05:00')
      await shots(admin, '3-policy-form')
      await admin.click('button:has-text("Create policy")')
      await admin.waitForSelector('text=Policy “Nightly by the host” created.')
      await shots(admin, '4-policies')
    })

    it('admin adds a new tenant through Admin > Tenants', async () => {
      await admin.click('nav >> text=Tenants')
      await admin.click('a:has-text("Add tenant") >> nth=0')
      await admin.fill('#f-name', 'carol')
      await admin.fill('#f-password', PASSWORD)
      await admin.fill('#f-homeDir', home)
      await admin.fill('#f-systemUser', user)
      await admin.fill('#f-timezone', 'UTC')
      await shots(admin, '5-tenant-form')
      await admin.click('button:has-text("Add tenant")')
      await admin.waitForSelector('text=Tenant “carol” added.')
    })

    it('the host’s window backs the new tenant up with no tenant action', async () => {
      const carol = (await findTenantByName(deps.db, 'carol'))!
      // The served panel's scheduler ticks by the wall clock, and the window may be hours away:
      // this test ticks the same scheduler once a minute through the next 01:00-05:00 window
      // (server zone), as `panel serve` would, so every slot is seen on time.
      const start = CronExpressionParser.parse('0 1 * * *', { tz: serverZone() }).next().getTime()
      for (let t = start - MINUTE; t <= start + 250 * MINUTE; t += MINUTE) {
        await tickScheduler(deps.db, new Date(t))
      }
      const queued = await deps.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.tenantId, carol.id), eq(jobs.status, 'queued')))
      expect(queued.map((j) => [j.kind, (j.payload as { trigger: string }).trigger])).toEqual([
        ['backup', 'schedule'],
      ])
      // Its start (slot + spread) lies in that future window and the runner claims by the wall
      // clock, which cannot be injected into a served panel: move this one job's start to now.
      await deps.db.update(jobs).set({ runAt: new Date() }).where(eq(jobs.id, queued[0]!.id))
      const run = await until(
        async () =>
          (
            await deps.db
              .select()
              .from(runs)
              .where(and(eq(runs.tenantId, carol.id), eq(runs.kind, 'backup')))
          ).find((r) => r.status !== 'running' && r.status !== 'queued'),
        'the scheduled backup',
        120_000,
      )
      expect(run).toMatchObject({ status: 'success', trigger: 'schedule' })
      await admin.goto(`${panel.url}/admin/tenants`)
      const row = admin.locator('tr:has(a:text-is("carol"))')
      await row.locator('.badge-ok').waitFor()
      expect(await row.textContent()).not.toContain('Never backed up')
      await shots(admin, '6-tenants-backed-up')
    }, 150_000)

    it('the tenant sees “Provided by your host” and restores a file from it', async () => {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 900 },
        acceptDownloads: true,
      })
      tenant = await context.newPage()
      tenant.setDefaultTimeout(30_000)
      await signIn(tenant, panel.url, 'carol')
      await tenant.waitForURL('**/backups')
      const row = tenant.locator('tbody tr:has(td.strong:has-text("Nightly by the host"))')
      expect(await row.textContent()).toContain('Provided by your host')
      expect(await row.locator('.badge-ok').textContent()).toContain('Healthy')
      await shots(tenant, '7-tenant-overview')

      await tenant.click('nav >> text=Restore')
      const section = tenant.locator('section.restore-dest:has(h2:has-text("Host S3"))')
      expect(await section.locator('h2').textContent()).toContain('Provided by your host')
      await shots(tenant, '8-tenant-restore')
      await section.locator('a:has-text("Browse & restore") >> nth=0').click()
      await tenant.waitForSelector('#tree')
      await shots(tenant, '9-tenant-browse')

      // A download of one file, straight from the host's backup.
      await tenant.click('#tree a.folder:text-is("public_html")')
      const download = tenant.waitForEvent('download')
      await tenant.click('[aria-label="Download index.html"]')
      const saved = await (await download).path()
      expect(readFileSync(saved, 'utf8')).toBe(FILES['public_html/index.html'])

      // A restore of another into a new folder in the home, run by the runner as the tenant.
      await tenant.click('nav >> text=Restore')
      await section.locator('a:has-text("Browse & restore") >> nth=0').click()
      await tenant.click('#tree a.folder:text-is("notes")')
      await tenant.check('[aria-label="Tick recipes.txt"]')
      await tenant.fill('#f-newName-folder', 'from-host')
      await shots(tenant, '10-tenant-restore-form')
      await tenant.click('button:has-text("Restore files")')
      await tenant.waitForSelector('text=Restore queued')
      const target = join(home, 'from-host', 'notes', 'recipes.txt')
      await until(
        () => (existsSync(target) ? readFileSync(target, 'utf8') : undefined),
        'the restored file',
      )
      expect(readFileSync(target, 'utf8')).toBe(FILES['notes/recipes.txt'])
      expect(existsSync(join(home, 'from-host', 'public_html'))).toBe(false)
      await shots(tenant, '11-tenant-restore-queued')
      // The tenant pressed no Back up now: the only backup run is the scheduled one.
      const carol = (await findTenantByName(deps.db, 'carol'))!
      const backups = await deps.db
        .select()
        .from(runs)
        .where(and(eq(runs.tenantId, carol.id), eq(runs.kind, 'backup')))
      expect(backups.map((r) => r.trigger)).toEqual(['schedule'])
      await context.close()
    }, 120_000)
  },
)
