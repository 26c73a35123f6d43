import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import {
  browserAvailable,
  launch,
  servePanel,
  shot,
  signIn,
  stopPanel,
  type Panel,
} from './browser.ts'
import { addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'
import { claimJob, getJob } from '../../src/db/jobs.ts'
import { endCancelled } from '../../src/db/job-cancel.ts'
import { createRun, finishRun, finishStage, setRunProgress, startStage } from '../../src/db/runs.ts'
import { runStages, runs, tenants } from '../../src/db/schema.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { requestVerify } from '../../src/domain/verify.ts'
import { calendarDay } from '../../src/zoned.ts'

const WIDE = { width: 1280, height: 900 }
const PHONE = { width: 390, height: 844 }
const MiB = 2 ** 20
const OWNER = 'web-1:4242:e2e'
const REASON =
  'The destination refused our credentials (403 Forbidden): check the access key and the secret key under Destinations, then run the backup again.'

/**
 * The Overview in every state a policy can be in (Healthy, Failing since, Never run, Running,
 * Paused), the honest phases of a running backup, and cancelling it with and without
 * JavaScript, at desktop and phone widths. The panel runs without its runner: the test plays
 * it, so each state holds still for its screenshot.
 */
describe.runIf(browserAvailable())('the Overview’s states in Chromium', () => {
  const deps = freshDeps()
  const { db } = deps
  let server: Panel
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let jobId = 0
  let runId = 0
  /** The site's last backup, five hours back: "Today" or, late in Berlin's evening, "Yesterday". */
  let siteDay = 'Today'

  /** A finished backup of `policyId` ending at `at` (41 s long), one snapshot stage. */
  async function finished(tenantId: number, policyId: number, dest: number, ok: boolean, at: Date) {
    const run = await createRun(db, tenantId, {
      kind: 'backup',
      trigger: 'schedule',
      jobId: null,
      policyId,
    })
    const stage = await startStage(db, run.id, 'snapshot', dest)
    await finishStage(db, stage.id, ok ? 'success' : 'failed', {
      bytes: ok ? 184 * MiB : null,
      message: ok ? 'Stored.' : REASON,
    })
    await finishRun(db, run.id, ok ? 'success' : 'failed', {
      error: ok ? null : `Offsite S3: ${REASON}`,
    })
    const span = { startedAt: new Date(at.getTime() - 41_000), finishedAt: at }
    await db.update(runStages).set(span).where(eq(runStages.id, stage.id))
    await db.update(runs).set(span).where(eq(runs.id, run.id))
  }

  beforeAll(async () => {
    const acme = await addTenant(deps, 'acme')
    await db.update(tenants).set({ timezone: 'Europe/Berlin' }).where(eq(tenants.id, acme.id))
    const dest = (await localDestination(deps, acme.id, 'nightly', 'Offsite S3')).id
    const mk = (name: string, extra = {}) =>
      policy(deps, acme.id, [dest], { name, timezone: 'Europe/Berlin', ...extra })
    const site = await mk('Website')
    const shop = await mk('Shop database', { preset: 'weekly', cron: '0 3 * * 0' })
    await mk('Photos')
    const blog = await mk('Blog')
    await mk('Old site', { enabled: false })
    const now = Date.now()
    await finished(acme.id, site, dest, true, new Date(now - 5 * 3_600_000))
    const berlinDay = (ms: number) => calendarDay(new Date(ms), 'Europe/Berlin')
    if (berlinDay(now - 5 * 3_600_000) !== berlinDay(now)) siteDay = 'Yesterday'
    await finished(acme.id, shop, dest, true, new Date(now - 9 * 86_400_000))
    await finished(acme.id, shop, dest, false, new Date(now - 8 * 86_400_000))
    await finished(acme.id, shop, dest, false, new Date(now - 86_400_000))
    // Blog's backup is running: this test is its runner.
    jobId = (await requestBackup(db, acme.id, blog, 'manual')).job.id
    await claimJob(db, OWNER, 60 * 60_000)
    runId = (
      await createRun(db, acme.id, {
        kind: 'backup',
        trigger: 'manual',
        jobId,
        policyId: blog,
        policyName: 'Blog',
      })
    ).id
    await setRunProgress(db, runId, {
      stage: 'snapshot',
      phase: 'uploading',
      destination: 'Offsite S3',
      index: 0,
      of: 1,
      percent: 37,
      filesDone: 1_204,
      totalFiles: 3_311,
      bytesDone: 412 * MiB,
      totalBytes: 1_113 * MiB,
      rate: 6.4 * MiB,
      sent: 300 * MiB,
      sentRate: 5.9 * MiB,
    })
    // A test restore of Website waits for the runner.
    await requestVerify(db, acme.id, site, 'restore', 'manual')
    server = await servePanel(deps, { PANEL_RUNNER: '0' })
    browser = await launch()
    context = await browser.newContext({ viewport: WIDE })
    page = await context.newPage()
    page.setDefaultTimeout(15_000)
    page.on('dialog', (d) => d.accept())
    await signIn(page, server.url, 'acme')
    await page.waitForURL('**/backups')
  })
  afterAll(async () => {
    await browser?.close()
    await stopPanel(server)
  })

  const row = (name: string) => page.locator('table.overview-table tr', { hasText: name })
  /** What a row's Status cell reads, spaces collapsed. */
  const status = async (name: string) =>
    (await row(name).locator('.row-state').innerText()).replace(/\s+/g, ' ').trim()

  it('says each row’s state in words beside its colour, at 1280 and 390 px', async () => {
    await page.goto(`${server.url}/backups`)
    expect(await status('Website')).toBe('Healthy')
    expect(await row('Website').innerText()).toMatch(
      new RegExp(`${siteDay} at \\d\\d:\\d\\d\\s+184 MiB added · took 41 s`),
    )
    const shop = await status('Shop database')
    expect(shop).toMatch(
      /^Failing since \w{3} \d+ \w{3} at \d\d:\d\d 2 failed runs in a row Why it failed$/,
    )
    expect(shop).toContain('Why it failed')
    expect(shop).not.toContain(REASON) // one click away, not spilled over the row
    expect(await status('Photos')).toBe('Never run no backup has been made yet')
    expect(await status('Blog')).toBe('Running backing up now: progress above')
    expect(await row('Blog').innerText()).not.toContain('No backups yet')
    expect(await status('Old site')).toBe('Paused no scheduled backups')
    expect(await row('Website').innerText()).toMatch(/(Today|Tomorrow) at 03:00/)
    expect(await row('Shop database').innerText()).toMatch(/\w{3} \d+ \w{3} at 03:00/)
    // The activity card: the phase in words, and never restic's 100%.
    const card = await page.locator('#activity').innerText()
    expect(card).toContain('Backing up “Blog”')
    expect(card).toContain('37% · Uploading 412 MiB of 1.09 GiB at 6.4 MiB/s to Offsite S3')
    expect(card).toContain('Test restore of “Website”')
    expect(card).toContain('Waiting to start')
    await shot(page, 'overview-states-1280')
    await page.setViewportSize(PHONE)
    await page.reload()
    await shot(page, 'overview-states-390')
    await page.setViewportSize(WIDE)
  })

  it('opens the full reason of a failure in one click, at 390 px too', async () => {
    await page.setViewportSize(PHONE)
    await page.goto(`${server.url}/backups`)
    await row('Shop database').locator('summary', { hasText: 'Why it failed' }).click()
    const why = row('Shop database').locator('details.why')
    expect(await why.innerText()).toContain(REASON)
    expect(await why.locator('a').innerText()).toMatch(/^Run #\d+: every stage and the log$/)
    await shot(page, 'overview-why-390')
    await page.setViewportSize(WIDE)
  })

  it('follows the backup through its phases without a reload', async () => {
    await page.goto(`${server.url}/backups`)
    await setRunProgress(db, runId, {
      stage: 'snapshot',
      phase: 'finishing',
      destination: 'Offsite S3',
      index: 0,
      of: 1,
      percent: null,
      filesDone: 3_311,
      totalFiles: 3_311,
      bytesDone: 1_113 * MiB,
      totalBytes: 1_113 * MiB,
      rate: 0,
      sent: 871 * MiB,
      sentRate: 5.9 * MiB,
    })
    await page.waitForFunction(() =>
      document.querySelector('#activity')?.textContent?.includes('sent so far'),
    )
    const card = await page.locator('#activity').innerText()
    expect(card).toContain(
      'Uploading to Offsite S3: 871 MiB sent so far at 5.9 MiB/s; all 1.09 GiB of files read',
    )
    expect(card).not.toMatch(/\d+%/)
    await shot(page, 'overview-finishing-1280')
    await setRunProgress(db, runId, {
      stage: 'step',
      destination: 'Offsite S3',
      text: 'Applying retention on Offsite S3: removing the backups your policy no longer keeps…',
      percent: null,
    })
    await page.waitForFunction(() =>
      document.querySelector('#activity')?.textContent?.includes('Applying retention'),
    )
  })

  it('cancels a queued job with JavaScript: the browser asks, the queue forgets it', async () => {
    await page.goto(`${server.url}/backups`)
    const card = page.locator('#activity .card', { hasText: 'Test restore of “Website”' })
    await card.locator('button', { hasText: 'Cancel' }).click() // the dialog is accepted
    await page.waitForSelector('text=Cancelled the test restore of “Website” before it started.')
    expect(await page.locator('#activity').innerText()).not.toContain('Test restore of')
  })

  it('stops the running backup without JavaScript: a confirmation page, then Cancelled by you', async () => {
    const plain = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false })
    const p = await plain.newPage()
    await signIn(p, server.url, 'acme')
    await p.waitForURL('**/backups')
    await p
      .locator('#activity .card', { hasText: 'Backing up “Blog”' })
      .locator('button', { hasText: 'Cancel' })
      .click()
    await p.waitForSelector('h1:has-text("Stop the backup of “Blog”?")')
    expect(await p.locator('main').innerText()).toContain('Your earlier backups are not touched.')
    await shot(p, 'overview-cancel-confirm-390')
    await p.click('button:has-text("Yes, stop it")')
    await p.waitForSelector('text=Stopping the backup of “Blog”')
    expect(await p.locator('#activity').innerText()).toContain('Cancelling')
    // The runner sees the request and stops restic; here the test is the runner.
    expect(await endCancelled(db, jobId, OWNER)).toBe(true)
    await p.reload()
    expect(await p.locator('#activity').innerText()).toBe('')
    const history = p.locator('h2:has-text("Run history") + .card tr', { hasText: 'Blog' })
    expect(await history.innerText()).toMatch(/Cancelled\s+.*Cancelled by you\./s)
    expect((await getJob(db, 1, jobId)).status).toBe('failed')
    await shot(p, 'overview-cancelled-390')
    await plain.close()
    // The page left open with JavaScript sees the end itself: its poll reloads it. (A goto here
    // raced that reload and was cut off by it.)
    await page.locator('#activity .card').waitFor({ state: 'detached' })
    await page
      .locator('h2:has-text("Run history") + .card tr', { hasText: 'Cancelled by you.' })
      .filter({ hasText: 'Blog' })
      .waitFor()
    await shot(page, 'overview-cancelled-1280')
  })
})
