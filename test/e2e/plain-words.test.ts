import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { createRun } from '../../src/db/runs.ts'
import { runLogs } from '../../src/db/schema.ts'
import { createTenant } from '../../src/domain/tenants.ts'
import { PASSWORD, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'
import {
  browserAvailable,
  launch,
  servePanel,
  shot,
  signIn,
  stopPanel,
  type Panel,
} from './browser.ts'

// One clock and plain words, as a tenant in India reads them, on a laptop and on a phone.
describe.runIf(browserAvailable())('plain words and one clock in Chromium', () => {
  let server: Panel
  let browser: Browser
  let runId = 0

  beforeAll(async () => {
    const deps = freshDeps()
    const tenant = await createTenant(deps.db, {
      name: 'priya',
      password: PASSWORD,
      homeDir: '/home/priya',
      systemUser: '',
      timezone: 'Asia/Calcutta',
    })
    const dest = await localDestination(deps, tenant.id, 'nightly', 'On this server')
    await policy(deps, tenant.id, [dest.id], {
      name: 'Weekdays',
      preset: 'custom',
      cron: '15 22 * * 1-5',
      timezone: 'Asia/Kolkata',
    })
    const run = await createRun(deps.db, tenant.id, {
      kind: 'backup',
      trigger: 'manual',
      jobId: null,
      policyId: null,
    })
    runId = run.id
    await deps.db.insert(runLogs).values([
      {
        runId,
        level: 'info',
        message: 'Backing up home files',
        at: new Date('2026-12-03T09:30:01Z'),
      },
      { runId, level: 'info', message: 'Uploaded 12 MiB', at: new Date('2026-12-03T09:31:40Z') },
    ])
    ;[server, browser] = await Promise.all([
      servePanel(deps, { PANEL_RUNNER: '0', TZ: 'Europe/Berlin' }),
      launch(),
    ])
  })
  afterAll(async () => {
    await browser?.close()
    await stopPanel(server)
  })

  for (const width of [1280, 390]) {
    describe(`at ${width} px`, () => {
      let page: Page
      beforeAll(async () => {
        page = await browser.newPage({ viewport: { width, height: 900 } })
        page.setDefaultTimeout(8_000)
        page.on('dialog', (d) => d.accept())
        await signIn(page, server.url, 'priya')
        await page.waitForURL('**/backups')
      })
      afterAll(() => page?.close())

      it('the policy form lists every cron mistake once, beside the field, and explains retention', async () => {
        await page.goto(`${server.url}/backups/policies/new`)
        expect(await page.inputValue('#f-timezone')).toBe('Asia/Kolkata')
        await page.fill('#f-name', 'Broken')
        await page.selectOption('#f-preset', 'custom')
        await page.fill('#f-cron', '61 25 * * *')
        await page.waitForSelector('#f-cron-error')
        const message = 'Minute 61 is not between 0 and 59; hour 25 is not between 0 and 23.'
        expect(await page.textContent('#f-cron-error')).toBe(message)
        await page.fill('#f-keepDaily', '14')
        await page.waitForFunction(() =>
          document.querySelector('#keeps-preview')?.textContent?.includes('14 daily'),
        )
        expect(await page.textContent('#keeps-preview')).toBe(
          'Keeps 14 daily, 4 weekly and 12 monthly backups: about a year.',
        )
        await page.click('button:has-text("Create policy")')
        await page.waitForSelector('.field.has-error #f-cron-error')
        expect(await page.locator('text=Minute 61').count()).toBe(1)
        await page.locator('#f-cron').scrollIntoViewIfNeeded()
        await shot(page, `words-policy-form-bad-cron-${width}`)
        await page.fill('#f-cron', '30 2 * * 1,4')
        await page.waitForFunction(() =>
          document.querySelector('#schedule-preview')?.textContent?.includes('At 02:30 on Mon'),
        )
        expect(await page.locator('#f-cron-error').count()).toBe(0)
        await page.fill('#f-timezone', 'Europe/Kiev')
        await page.click('button:has-text("Create policy")')
        await page.waitForSelector('text=Policy “Broken” created.')
        const list = (await page.textContent('.policy-list')) ?? ''
        expect(list).toContain('At 02:30 on Mon and Thu (Europe/Kyiv time)')
        expect(list).toContain('Weekdays at 22:15')
        expect(list).toContain('Keeps 14 daily, 4 weekly and 12 monthly backups: about a year')
        expect(await page.textContent('.zone-note')).toBe('Times are in Asia/Kolkata (UTC+05:30).')
        await shot(page, `words-policies-${width}`)
        // The next width starts from the same list.
        await page.click('.policy:has-text("Broken") >> button:has-text("Delete")')
        await page.waitForSelector('text=Policy “Broken” deleted.')
      })

      it('the activity log reads as sentences, in the tenant’s zone', async () => {
        await page.goto(`${server.url}/backups/activity-log`)
        const rows = await page.locator('[data-testid=audit-row]').allTextContents()
        expect(rows.join('\n')).toContain('You created the policy “Broken”.')
        expect(rows.join('\n')).toContain('You deleted the policy “Broken”.')
        expect(rows.join('\n')).toMatch(/You signed in from [\d.:a-f]+\./)
        expect(rows.join('\n')).not.toMatch(/login\.ok|policy\.create/)
        expect(await page.textContent('.zone-note')).toBe('Times are in Asia/Kolkata (UTC+05:30).')
        await shot(page, `words-activity-log-${width}`)
      })

      it('the run log is in the tenant’s zone', async () => {
        await page.goto(`${server.url}/backups/runs/${runId}`)
        const lines = await page.locator('.log-line').allTextContents()
        expect(lines.map((l) => l.trim())).toEqual([
          '15:00:01 Backing up home files',
          '15:01:40 Uploaded 12 MiB',
        ])
        await shot(page, `words-run-log-${width}`)
      })
    })
  }
})
