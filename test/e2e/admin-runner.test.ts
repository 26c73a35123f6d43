import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
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
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { claimJob, enqueue, getRunnerSetting } from '../../src/db/jobs.ts'
import { createRun, finishRun, setRunProgress } from '../../src/db/runs.ts'
import { jobs } from '../../src/db/schema.ts'

describe.runIf(browserAvailable())('Admin > Runner in Chromium', () => {
  const deps = freshDeps()
  const { db } = deps
  let server: Panel
  let url = ''
  let browser: Browser
  let page: Page
  let runId = 0
  let jobId = 0

  beforeAll(async () => {
    await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
    const shop = await addTenant(deps, 'shop')
    const blog = await addTenant(deps, 'blog')
    // The panel runs without its runner: this test plays the runner, so the job stays mid-run
    // for as long as the test needs and its progress moves when the test says so.
    jobId = (
      await enqueue(db, {
        kind: 'backup',
        tenantId: shop.id,
        payload: { policyId: 0, trigger: 'schedule' },
      })
    ).job.id
    await enqueue(db, {
      kind: 'backup',
      tenantId: blog.id,
      payload: { policyId: 0, trigger: 'manual' },
    })
    await claimJob(db, 'web-1:4242:e2e', 10 * 60_000)
    runId = (
      await createRun(db, shop.id, {
        kind: 'backup',
        trigger: 'schedule',
        jobId,
        policyId: null,
      })
    ).id
    await setRunProgress(db, runId, {
      stage: 'snapshot',
      percent: 30,
      filesDone: 300,
      totalFiles: 1000,
      bytesDone: 30 * 2 ** 20,
      totalBytes: 100 * 2 ** 20,
      destination: 'Offsite S3',
    })
    server = await servePanel(deps, { PANEL_RUNNER: '0' })
    url = server.url
    browser = await launch()
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.setDefaultTimeout(15_000)
    page.on('dialog', (d) => d.accept())
  })
  afterAll(async () => {
    await browser?.close()
    await stopPanel(server)
  })

  it('shows the running backup with a progress bar that moves without a reload', async () => {
    await signIn(page, url, 'boss')
    await page.waitForURL('**/admin/**')
    await page.click('nav >> text=Runner')
    await page.waitForURL('**/admin/runner')
    const bar = page.locator('#runner-live progress')
    expect(await bar.getAttribute('value')).toBe('30')
    expect(await page.textContent('#runner-live')).toContain(
      '30% · 300 of 1000 files · 30 MiB of 100 MiB · to Offsite S3',
    )
    await shot(page, 'runner-01-running')

    await setRunProgress(db, runId, {
      stage: 'snapshot',
      percent: 75,
      filesDone: 750,
      totalFiles: 1000,
      bytesDone: 75 * 2 ** 20,
      totalBytes: 100 * 2 ** 20,
      destination: 'Offsite S3',
    })
    await page.waitForSelector('#runner-live progress[value="75"]')
    expect(
      await page.evaluate(
        () => (document.querySelector('#runner-live progress') as HTMLProgressElement).position,
      ),
    ).toBe(0.75)
    // blog waits in the queue with its own row and a Cancel button.
    expect(await page.textContent('#runner-live')).toContain('Queue (1, 1 due)')
    await shot(page, 'runner-02-progress-moved')

    await finishRun(db, runId, 'success', { bytes: 100e6 })
    await db.update(jobs).set({ status: 'done' }).where(eq(jobs.id, jobId))
    await page.waitForSelector('#runner-live >> text=No job is running.')
  })

  it('pauses the runner, refuses a bad concurrency beside the field, and cancels a queued job', async () => {
    await page.click('button:has-text("Pause runner")')
    await page.waitForSelector('text=Runner paused: no new job starts; running jobs finish.')
    expect(await getRunnerSetting(db, 'paused')).toBe('1')
    await page.fill('#f-concurrency', '100')
    await page.fill('#f-uploadLimit', '1.5')
    await page.click('button:has-text("Save runner settings")')
    await page.waitForSelector('#f-concurrency-error')
    expect(await page.textContent('#f-concurrency-error')).toContain(
      'Use a whole number from 1 to 64',
    )
    expect(await page.inputValue('#f-uploadLimit')).toBe('1.5')
    await shot(page, 'runner-03-paused-error')
    await page.fill('#f-concurrency', '4')
    await page.click('button:has-text("Save runner settings")')
    await page.waitForSelector('text=Runner settings saved.')
    expect(await getRunnerSetting(db, 'concurrency')).toBe('4')
    expect(await getRunnerSetting(db, 'uploadLimit')).toBe('1536')
    await page.click('#runner-live button:has-text("Cancel")')
    await page.waitForSelector('text=Cancelled the queued backup of blog.')
    expect(await page.textContent('#runner-live')).toContain('The queue is empty.')
    await page.click('button:has-text("Resume runner")')
    await page.waitForSelector('button:has-text("Pause runner")')
    await shot(page, 'runner-04-resumed')
  })
})
