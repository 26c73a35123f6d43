import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
import { freshDeps } from '../helpers.ts'
import { realTenant, removeUsers, rootAvailable } from '../support/tenants.ts'
import { requireS3rver, startS3rver, type S3rverServer } from '../services/s3rver.ts'
import { makeKey, requireSshd, startSshd, type SshServer } from '../services/sshd.ts'
import { requireApacheDav, startApacheDav, type ApacheDav } from '../services/apache-dav.ts'
import { requireAzurite, startAzurite, type AzuriteServer } from '../services/azurite.ts'
import { startDropboxFake, type DropboxFake } from '../services/dropbox-fake.ts'
import { setAdminSetting } from '../../src/db/settings.ts'
import { listQueue } from '../../src/db/jobs.ts'
import { listRuns } from '../../src/db/runs.ts'

/**
 * A new tenant, in Chromium, adds one destination of every remote type against its loopback
 * server, sees Test connection fail in plain words and then pass, saves it, creates a policy
 * for it, backs up from the Overview and restores a file into a new folder, byte for byte.
 * One browser, one panel and one set of servers serve every type.
 */

const BLOB = randomBytes(200_000)
const FILES = {
  'public_html/index.html': '<h1>Remote shop</h1>\n',
  'data/blob.bin': BLOB,
}

/** Per type: two Test connections, a first backup and a restore through the runner. */
const TYPE_TIMEOUT = 150_000

const ready =
  browserAvailable() &&
  rootAvailable() &&
  requireS3rver() &&
  requireSshd() &&
  requireApacheDav() &&
  requireAzurite()

describe.runIf(ready)('remote destinations in Chromium: form, test, back up, restore', () => {
  const deps = freshDeps()
  let panel: Panel
  let url = ''
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let home = ''
  let tenantId = 0
  let s3: S3rverServer
  let ssh: SshServer
  let dav: ApacheDav
  let azure: AzuriteServer
  let dropbox: DropboxFake
  const keyDir = mkdtempSync(join(tmpdir(), 'panel-e2e-keys-'))

  beforeAll(async () => {
    const t = await realTenant(deps, 'remote', FILES)
    home = t.home
    tenantId = t.tenant.id
    ;[s3, ssh, dav, azure, dropbox, browser] = await Promise.all([
      startS3rver({ buckets: ['shop-backups'] }),
      startSshd(),
      startApacheDav(),
      startAzurite(),
      startDropboxFake(),
      launch(),
    ])
    await azure.createContainer('backups')
    // The admin lets destinations reach the loopback test servers past the outbound guard.
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1'])
    panel = await servePanel(deps, { PANEL_DROPBOX_API_BASE: dropbox.url })
    url = panel.url
    context = await browser.newContext({ viewport: { width: 1280, height: 1400 } })
    page = await context.newPage()
    page.setDefaultTimeout(30_000)
    page.on('dialog', (d) => d.accept())
    await signIn(page, url, 'remote')
    await page.waitForURL('**/backups')
  })

  afterAll(async () => {
    await browser?.close()
    await stopPanel(panel)
    await Promise.allSettled([
      s3?.stop(),
      ssh?.stop(),
      dav?.destroy(),
      azure?.stop(),
      dropbox?.close(),
    ])
    rmSync(keyDir, { recursive: true, force: true })
    removeUsers()
  })

  /** Destinations > Add destination > the type's card. */
  async function openNewForm(label: string) {
    await page.click('nav >> text=Destinations')
    await page.click('a:has-text("Add destination") >> nth=0')
    await page.click(`.type-card:has(.type-name:text-is("${label}"))`)
    await page.waitForSelector('#f-name')
  }

  /** Presses Test connection and returns the result box's text once it shows. */
  /**
   * Presses Test connection and returns the new result. An earlier result stays on the page
   * until htmx swaps in the answered form, so this waits for the /test answer and for the old
   * form to leave the page before reading.
   */
  async function testConnection(ok: boolean): Promise<string> {
    const oldForm = await page.$('form:has(button:has-text("Test connection"))')
    const answered = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/test'),
    )
    await page.click('button:has-text("Test connection")')
    await answered
    if (oldForm) await page.waitForFunction((form) => !form.isConnected, oldForm)
    const box = page.locator(`#test-result.${ok ? 'flash-ok' : 'flash-error'}`)
    await box.waitFor()
    return (await box.textContent()) ?? ''
  }

  async function saveNew(name: string) {
    await page.click('button:has-text("Add destination")')
    await page.waitForSelector(`text=Destination “${name}” added.`)
  }

  /** Settings > New policy sending the home folder to `destination` only. */
  async function createPolicy(policy: string, destination: string) {
    await page.click('nav >> text=Policies')
    await page.click('a:has-text("New policy") >> nth=0')
    await page.fill('#f-name', policy)
    await page.check(`.check:has(label:has-text("${destination}")) >> input`)
    await page.click('button:has-text("Create policy")')
    await page.waitForSelector(`text=Policy “${policy}” created.`)
  }

  /** Overview > Back up now on the policy's row; waits for its green result. */
  async function backUp(policy: string, prefix: string) {
    await page.click('nav >> text=Overview')
    const row = page.locator(`tbody tr:has(td.strong:text-is("${policy}"))`)
    await row.locator('button:has-text("Back up now")').click()
    await row
      .locator('.badge-ok')
      .waitFor({ timeout: 90_000 })
      .catch(async (err) => {
        await shot(page, `${prefix}-4-overview-failed`)
        // What the runner did, for a failure seen only in CI.
        const queue = await listQueue(deps.db)
        const runs = await listRuns(deps.db, tenantId, { limit: 5 })
        const seen = await row.textContent({ timeout: 1000 }).catch(() => null)
        console.error(
          `${prefix}: no green run; the row says ${JSON.stringify(seen)}.\nqueue: ${JSON.stringify(queue)}\nruns: ${JSON.stringify(runs)}\n` +
            `panel output (tail):\n${panel.output().slice(-4000)}`,
        )
        throw err
      })
    expect(await row.textContent()).toContain('Healthy')
    await shot(page, `${prefix}-4-overview`)
  }

  /** Restore > the destination's newest snapshot > data/blob.bin into a new folder. */
  async function restore(destination: string, folder: string) {
    await page.click('nav >> text=Restore')
    const section = page.locator(`section.restore-dest:has(h2:text-is("${destination}"))`)
    await section.locator('a:has-text("Browse & restore") >> nth=0').click()
    await page.click('#tree a.folder:text-is("data")')
    await page.check('[aria-label="Tick blob.bin"]')
    await page.fill('#f-newName-folder', folder)
    await page.click('button:has-text("Restore files")')
    await page.waitForSelector('text=Restore queued')
    const target = join(home, folder, 'data', 'blob.bin')
    for (let i = 0; i < 300; i++) {
      if (existsSync(target) && readFileSync(target).equals(BLOB)) break
      await new Promise((r) => setTimeout(r, 200))
    }
    expect(readFileSync(target).equals(BLOB), `${target} matches the backed-up bytes`).toBe(true)
    expect(existsSync(join(home, folder, 'public_html'))).toBe(false)
  }

  /** What differs between the remote types that take the same path through the panel. */
  type Remote = {
    /** The type card's label, the destination's and the policy's names. */
    card: string
    name: string
    policy: string
    /** Screenshot names start with it; the restore goes into `folder` in the home. */
    prefix: string
    folder: string
    /** Every field of the form, one of them wrong, typed in this order. */
    fields: Record<string, string>
    /** Steps a plain fill cannot do, after `fields`. */
    more?: () => Promise<void>
    /** What the failing Test connection says, and the fields that then fix it. */
    failure: RegExp
    fix: Record<string, string>
    /** What the passing Test connection says. */
    connected: string
    /** Extra checks once the fix is typed, and once the test passed. */
    afterFix?: () => Promise<void>
    afterTest?: () => Promise<void>
  }

  /** Form with a failing then passing Test connection, save, policy, backup, restore. */
  async function throughThePanel(r: Remote) {
    await openNewForm(r.card)
    await page.fill('#f-name', r.name)
    for (const [field, value] of Object.entries(r.fields)) await page.fill(field, value)
    await r.more?.()
    expect(await testConnection(false)).toMatch(r.failure)
    await shot(page, `${r.prefix}-0-test-failed`)
    for (const [field, value] of Object.entries(r.fix)) await page.fill(field, value)
    await r.afterFix?.()
    await shot(page, `${r.prefix}-1-form`)
    expect(await testConnection(true)).toContain(r.connected)
    await shot(page, `${r.prefix}-2-test-ok`)
    await r.afterTest?.()
    await saveNew(r.name)
    await shot(page, `${r.prefix}-3-list`)
    await createPolicy(r.policy, r.name)
    await backUp(r.policy, r.prefix)
    await restore(r.name, r.folder)
  }

  /** Built when its test runs, once the loopback servers are up. */
  const remotes: { title: string; remote: () => Remote }[] = [
    {
      title: 'S3 on s3rver',
      remote: () => ({
        card: 'S3',
        name: 'S3 on s3rver',
        policy: 'To S3',
        prefix: 'remote-s3',
        folder: 'from-s3',
        fields: {
          '#f-s-bucket': 'no-such-bucket',
          '#f-s-accessKeyId': s3.accessKeyId,
          '#f-s-secretAccessKey': s3.secretAccessKey,
          '#f-s-endpoint': s3.endpoint,
        },
        more: async () => {
          await page.selectOption('#f-s-endpointProtocol', 'http')
        },
        failure: /bucket/i,
        fix: { '#f-s-bucket': 'shop-backups' },
        connected: 'Connected',
        afterFix: async () => {
          // What was typed in the secret field survives the swapped-in form (never sent back).
          expect(await page.inputValue('#f-s-secretAccessKey')).toBe(s3.secretAccessKey)
        },
        afterTest: async () => {
          // An archive class is accepted, with a warning beside the field and with the result.
          await page.selectOption('#f-s-storageClass', 'DEEP_ARCHIVE')
          await testConnection(true)
          await page.waitForSelector('#test-warnings:has-text("DEEP_ARCHIVE")')
          expect(await page.textContent('#f-s-storageClass-warning')).toContain(
            'not directly restorable',
          )
          expect(await page.textContent('#test-warnings')).toContain(
            'DEEP_ARCHIVE are not directly restorable',
          )
          await shot(page, 'remote-s3-2-test-archive-warning')
          await page.selectOption('#f-s-storageClass', 'STANDARD')
        },
      }),
    },
    {
      title: 'SFTP on sshd with a password; the host key is pinned at the first test',
      remote: () => ({
        card: 'SSH/SFTP',
        name: 'SFTP with password',
        policy: 'To SFTP',
        prefix: 'remote-sftp',
        folder: 'from-sftp',
        fields: {
          '#f-s-host': '127.0.0.1',
          '#f-s-port': String(ssh.port),
          '#f-s-path': 'e2e-password',
          '#f-s-user': ssh.user,
          '#f-s-password': 'not the password',
        },
        failure: /password/i,
        fix: { '#f-s-password': ssh.password },
        connected: ssh.fingerprint(),
        afterTest: async () => {
          expect(await page.inputValue('#f-s-hostKey')).toBe(ssh.fingerprint())
        },
      }),
    },
    {
      title: 'SFTP on sshd with an ed25519 key',
      remote: () => {
        const stranger = makeKey(keyDir, 'ed25519')
        const key = makeKey(keyDir, 'ed25519')
        ssh.authorize(key.publicKey)
        return {
          card: 'SSH/SFTP',
          name: 'SFTP with key',
          policy: 'To SFTP by key',
          prefix: 'remote-sftp-key',
          folder: 'from-sftp-key',
          fields: {
            '#f-s-host': '127.0.0.1',
            '#f-s-port': String(ssh.port),
            '#f-s-path': 'e2e-key',
            '#f-s-user': ssh.user,
            '#f-s-privateKey': stranger.privateKey,
          },
          failure: /key/i,
          fix: { '#f-s-privateKey': key.privateKey },
          connected: ssh.fingerprint(),
        }
      },
    },
    {
      title: 'WebDAV on Apache',
      remote: () => ({
        card: 'WebDAV',
        name: 'WebDAV on Apache',
        policy: 'To WebDAV',
        prefix: 'remote-webdav',
        folder: 'from-webdav',
        fields: {
          '#f-s-url': dav.url,
          '#f-s-path': 'panel/backups',
          '#f-s-username': dav.username,
          '#f-s-password': 'wrong password',
        },
        failure: /password|user name/i,
        fix: { '#f-s-password': dav.password },
        connected: 'Connected',
      }),
    },
    {
      title: 'Azure Blob on Azurite',
      remote: () => ({
        card: 'Azure Blob',
        name: 'Azure on Azurite',
        policy: 'To Azure',
        prefix: 'remote-azure',
        folder: 'from-azure',
        fields: {
          '#f-s-accountName': azure.account,
          '#f-s-accountKey': azure.key,
          '#f-s-container': 'no-such-container',
        },
        more: async () => {
          await page.click('details.advanced > summary')
          await page.fill('#f-s-endpoint', azure.endpoint)
        },
        failure: /container/i,
        fix: { '#f-s-container': 'backups' },
        connected: 'Connected',
      }),
    },
  ]

  for (const { title, remote } of remotes) it(title, () => throughThePanel(remote()), TYPE_TIMEOUT)

  it(
    'Dropbox on the fake: Connect Dropbox with a pasted code',
    async () => {
      await openNewForm('Dropbox')
      await page.fill('#f-name', 'My Dropbox')
      await page.fill('#f-s-appKey', dropbox.appKey)
      await page.fill('#f-s-appSecret', dropbox.appSecret)
      await shot(page, 'remote-dropbox-1-form')
      expect(await testConnection(false)).toContain('not connected yet')
      await shot(page, 'remote-dropbox-0-test-failed')
      expect(await page.textContent('#dropbox-connection')).toContain('Press Add destination first')
      // Adding it leads to its page, where Connect Dropbox is.
      await saveNew('My Dropbox')
      await page.click('button:has-text("Connect Dropbox")')
      const popup = context.waitForEvent('page')
      await page.click('a:has-text("Open Dropbox and allow access")')
      const authorize = await popup
      const code = await authorize.locator('#code').inputValue()
      await authorize.close()
      await page.fill('#f-code', 'not-the-code')
      await page.click('button:has-text("Finish connecting")')
      expect(await page.textContent('#f-code-error')).toContain('Dropbox refused the code')
      expect(await page.inputValue('#f-code')).toBe('not-the-code')
      await shot(page, 'remote-dropbox-3-bad-code')
      await page.fill('#f-code', code)
      await page.click('button:has-text("Finish connecting")')
      await page.waitForSelector('text=Dropbox connected.')
      expect(await page.textContent('.badge-ok')).toContain('Connected')
      expect(await testConnection(true)).toContain('Connected')
      await shot(page, 'remote-dropbox-2-test-ok')
      await createPolicy('To Dropbox', 'My Dropbox')
      await backUp('To Dropbox', 'remote-dropbox')
      await restore('My Dropbox', 'from-dropbox')
    },
    TYPE_TIMEOUT,
  )
})
