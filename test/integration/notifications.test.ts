import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { and, eq } from 'drizzle-orm'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { faultyDrivers, startHookReceiver, startSmtp, until } from '../support/notify.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { setAdminSetting } from '../../src/db/settings.ts'
import {
  jobs,
  notifications,
  policies,
  tenants,
  users,
  type Notification,
} from '../../src/db/schema.ts'
import { pauseRunner, resumeRunner, startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { tickScheduler } from '../../src/runner/scheduler.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { listRuns } from '../../src/db/runs.ts'
import { notify, queueTestNotice } from '../../src/notify/notify.ts'
import { SMTP_OFF, deliverDue, startSender, type Sender } from '../../src/notify/sender.ts'

const { drivers: faulty, fault } = faultyDrivers()

describe.runIf(rootAvailable())('notifications (real SMTP and webhook servers on loopback)', () => {
  const deps = freshDeps({ drivers: faulty })
  let smtp: Awaited<ReturnType<typeof startSmtp>>
  let receiver: Awaited<ReturnType<typeof startHookReceiver>>
  const mails = () => smtp.mails
  const hooks = () => receiver.hooks
  let runner: Runner
  let sender: Sender
  let tenantId = 0
  let policyId = 0
  let nina: Client

  const rows = async () =>
    await deps.db.select().from(notifications).where(eq(notifications.tenantId, tenantId))
  const sentRow = (pred: (r: Notification) => boolean) =>
    until('a notice delivered', async () => {
      const r = (await deps.db.select().from(notifications)).find(pred)
      return r && r.status !== 'pending' ? r : undefined
    })
  const mailTo = (to: string, subject: string) =>
    until(`mail “${subject}” to ${to}`, () =>
      mails().find((m) => m.to.includes(to) && m.parsed.subject === subject),
    )

  async function backup(broken: boolean) {
    fault.broken = broken
    const { job } = await requestBackup(deps.db, tenantId, policyId, 'manual')
    runner.wake()
    const done = await waitJob(deps, tenantId, job.id)
    return { job: done, run: (await listRuns(deps.db, tenantId, { limit: 1 }))[0]! }
  }

  async function saveSettings(form: Record<string, string>) {
    return nina.post('/backups/notifications', {
      email: '',
      mode: 'failures',
      webhookUrl: '',
      webhookSecret: '',
      ...form,
    })
  }

  beforeAll(async () => {
    smtp = await startSmtp()
    deps.config.smtp = smtp.smtp
    receiver = await startHookReceiver()
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1'])

    const t = await realTenant(deps, 'nina', { 'site/index.html': '<h1>nina</h1>\n' })
    tenantId = t.tenant.id
    const dest = await localDestination(deps, tenantId, 'repo', 'Office disk')
    policyId = await policy(deps, tenantId, [dest.id])
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    sender = startSender(deps, { pollMs: 100, onError: () => {} })
    nina = new Client(deps)
    await nina.login('nina')
  }, 60_000)

  afterAll(async () => {
    await sender?.stop()
    await runner?.stop()
    smtp?.close()
    receiver?.close()
    removeUsers()
  })

  it('refuses a bad e-mail address beside the field, keeping what was typed', async () => {
    const res = await saveSettings({ email: 'nina at example', webhookSecret: 'typed-secret-2718' })
    expect(res.status).toBe(422)
    expect(res.body).toContain('is not an e-mail address')
    expect(res.body).toContain('value="nina at example"')
    // What was typed into the secret field is not sent back.
    expect(res.body).not.toContain('typed-secret-2718')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect((await saveSettings({ email: 'nina@example.com' })).status).toBe(303)
  })

  it('mails the tenant when a backup fails, with the destination, the reason and what to do', async () => {
    const { job, run } = await backup(true)
    expect(job.status).toBe('failed')
    const mail = await mailTo('nina@example.com', 'Backup failed: Nightly (nina)')
    const text = mail.parsed.text ?? ''
    expect(text).toContain('The backup of policy “Nightly” to Office disk failed on')
    expect(text).toContain('Reason: Office disk: the backup folder is not writable')
    expect(text).toContain(
      'What to do: The destination’s backup folder cannot be written to. For a Local destination (a folder on this server) tell your administrator',
    )
    expect(text).toContain(`/backups/runs/${run.id}`)
    expect(mail.parsed.from?.text).toContain('panel@test.invalid')
    expect((await sentRow((r) => r.subject === 'Backup failed: Nightly (nina)')).status).toBe(
      'sent',
    )
  }, 90_000)

  it('mails “recovered” on the first success after a failure, and nothing on the next success', async () => {
    const { run } = await backup(false)
    expect(run.status).toBe('success')
    const mail = await mailTo('nina@example.com', 'Backup recovered: Nightly (nina)')
    expect(mail.parsed.text).toContain('succeeded on')
    expect(mail.parsed.text).toContain('after the previous run had failed')
    const before = (await rows()).length
    const again = await backup(false)
    expect(again.run.status).toBe('success')
    // The notice is queued by the job itself, before the job is marked done: none means no mail.
    expect((await rows()).length).toBe(before)
  }, 90_000)

  it('mails every run when asked, and nothing when told never', async () => {
    expect((await saveSettings({ email: 'nina@example.com', mode: 'every' })).status).toBe(303)
    const { run } = await backup(false)
    const mail = await mailTo('nina@example.com', 'Backup succeeded: Nightly (nina)')
    expect(mail.parsed.text).toContain(`/backups/runs/${run.id}`)

    expect((await saveSettings({ email: 'nina@example.com', mode: 'never' })).status).toBe(303)
    const before = (await rows()).length
    expect((await backup(true)).job.status).toBe('failed')
    expect((await rows()).length).toBe(before)
    expect((await backup(false)).run.status).toBe('success')
    expect((await rows()).length).toBe(before)
  }, 120_000)

  it('mails a missed schedule', async () => {
    expect((await saveSettings({ email: 'nina@example.com', mode: 'failures' })).status).toBe(303)
    // The runner was down for three hours: the hourly slots in between were missed.
    await pauseRunner(deps.db)
    const past = new Date(Date.now() - 3 * 3600_000 - 60_000)
    await deps.db
      .update(policies)
      .set({ schedule: '0 * * * *', createdAt: past, updatedAt: past })
      .where(eq(policies.id, policyId))
    const { missed } = await tickScheduler(deps.db, new Date(), deps)
    expect(missed).toBeGreaterThan(0)
    await deps.db.delete(jobs).where(and(eq(jobs.tenantId, tenantId), eq(jobs.status, 'queued')))
    await resumeRunner(deps.db)
    const mail = await mailTo('nina@example.com', 'Backup missed its schedule: Nightly (nina)')
    expect(mail.parsed.text).toContain('did not start on time')
    expect(mail.parsed.text).toContain('What to do:')
  })

  it('mails every admin with an address on token.created', async () => {
    await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
    await insertAdmin(deps.db, 'deputy', await hashPassword(PASSWORD))
    await insertAdmin(deps.db, 'silent', await hashPassword(PASSWORD))
    const boss = new Client(deps)
    await boss.login('boss')
    expect((await boss.get('/admin/settings')).body).toContain('Your e-mail address')
    const bad = await boss.post('/admin/settings/email', { adminEmail: 'boss@' })
    expect(bad.status).toBe(422)
    expect(bad.body).toContain('is not an e-mail address')
    expect(
      (await boss.post('/admin/settings/email', { adminEmail: 'boss@example.com' })).status,
    ).toBe(303)
    await deps.db
      .update(users)
      .set({ email: 'deputy@example.com' })
      .where(eq(users.username, 'deputy'))

    await notify(deps, {
      type: 'token.created',
      tenantId,
      by: 'nina',
      activeFrom: new Date(Date.now() + 24 * 3600_000),
    })
    const subject = 'Backup token created for nina'
    for (const to of ['boss@example.com', 'deputy@example.com']) {
      const mail = await mailTo(to, subject)
      expect(mail.parsed.text).toContain('nina created the backup token of tenant “nina”')
      expect(mail.parsed.text).toContain('unless an admin allows it now')
      expect(mail.parsed.text).toContain('npx panel token allow-now nina')
    }
    // The tenant is not mailed about token events; the admin without an address cannot be.
    expect(
      mails()
        .filter((m) => m.parsed.subject === subject)
        .flatMap((m) => m.to)
        .sort(),
    ).toEqual(['boss@example.com', 'deputy@example.com'])
  })

  it('posts a signed webhook to an allowlisted loopback receiver', async () => {
    const secret = 'a-long-shared-webhook-secret-42'
    expect(
      (
        await saveSettings({
          email: '',
          mode: 'failures',
          webhookUrl: receiver.url,
          webhookSecret: secret,
        })
      ).status,
    ).toBe(303)
    const page = await nina.get('/backups/notifications')
    expect(page.body).not.toContain(secret) // write-only
    expect(page.body).toContain('stored (leave blank to keep)')

    const { run } = await backup(true)
    const hook = await until('the webhook call', () =>
      hooks().find((h) => h.headers['x-panel-event'] === 'backup.failed'),
    )
    const signed = `${hook.headers['x-panel-timestamp']}.${hook.body}`
    const expected = 'sha256=' + createHmac('sha256', secret).update(signed).digest('hex')
    expect(hook.headers['x-panel-signature']).toBe(expected)
    expect(Number(hook.headers['x-panel-timestamp'])).toBeGreaterThan(1_700_000_000)
    expect(hook.headers['content-type']).toBe('application/json')
    const payload = JSON.parse(hook.body)
    expect(payload).toMatchObject({
      event: 'backup.failed',
      tenant: 'nina',
      policy: 'Nightly',
      runId: run.id,
      status: 'failed',
    })
    expect(payload.reason).toContain('not writable')
    expect(new Date(payload.at).getTime()).not.toBeNaN()
    // No e-mail address any more: only the webhook was queued.
    expect(
      (
        await deps.db.select().from(notifications).where(eq(notifications.event, 'backup.failed'))
      ).filter((r) => r.body === hook.body),
    ).toHaveLength(1)
  }, 90_000)

  it('refuses blocked webhook addresses on save, and at send time records why', async () => {
    const res = await saveSettings({
      webhookUrl: 'http://169.254.169.254/latest/meta-data',
      webhookSecret: 'x'.repeat(20),
    })
    expect(res.status).toBe(422)
    expect(res.body).toContain(
      'resolves to 169.254.169.254, a private, loopback or metadata address',
    )

    // A URL saved while allowed, then the admin removes 127.0.0.1 from the allowlist.
    await setAdminSetting(deps.db, 'outboundAllow', [])
    const calls = hooks().length
    await queueTestNotice(deps, tenantId)
    const loop = await sentRow((r) => r.event === 'test' && r.recipient === receiver.url)
    expect(loop.status).toBe('failed')
    expect(loop.error).toContain('resolves to 127.0.0.1, a private, loopback or metadata address')
    expect(loop.attempts).toBe(1)

    await deps.db
      .update(tenants)
      .set({ webhookUrl: 'http://169.254.169.254/latest/meta-data' })
      .where(eq(tenants.id, tenantId))
    await queueTestNotice(deps, tenantId)
    const meta = await sentRow((r) => r.event === 'test' && r.recipient.includes('169.254.169.254'))
    expect(meta.status).toBe('failed')
    expect(meta.error).toContain('169.254.169.254, a private, loopback or metadata address')
    expect(hooks().length).toBe(calls)

    const list = await nina.get('/backups/notifications')
    expect(list.body).toContain('Test notification from the panel (nina)')
    expect(list.body).toContain('a private, loopback or metadata address')
  })

  it('shows another tenant none of these notices', async () => {
    await addTenant(deps, 'omar')
    const omar = new Client(deps)
    await omar.login('omar')
    const page = await omar.get('/backups/notifications')
    expect(page.status).toBe(200)
    expect(page.body).toContain('No notifications yet')
    expect(page.body).not.toContain('(nina)')
  })

  it('retries a failing webhook with growing gaps, then gives up with the reason', async () => {
    await sender.stop()
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1'])
    await deps.db
      .update(tenants)
      .set({ webhookUrl: receiver.url, notifyEmail: null })
      .where(eq(tenants.id, tenantId))
    receiver.answer.status = 500
    const calls = hooks().length
    await queueTestNotice(deps, tenantId)
    const row = async () =>
      (
        await deps.db
          .select()
          .from(notifications)
          .where(and(eq(notifications.event, 'test'), eq(notifications.recipient, receiver.url)))
          .orderBy(notifications.id)
      ).at(-1)!
    await deliverDue(deps, null, Date.now())
    expect(await row()).toMatchObject({
      status: 'pending',
      attempts: 1,
      error: 'the webhook answered HTTP 500',
    })
    await deliverDue(deps, null, Date.now()) // not due yet: the first retry waits 30 s
    expect((await row()).attempts).toBe(1)
    await deliverDue(deps, null, Date.now() + 29_000)
    expect((await row()).attempts).toBe(1)
    for (let i = 0; i < 4; i++) await deliverDue(deps, null, Date.now() + 3600_000)
    expect(await row()).toMatchObject({ status: 'failed', attempts: 5 })
    expect((await row()).error).toBe('the webhook answered HTTP 500 (gave up after 5 attempts)')
    expect(hooks().length - calls).toBe(5)
  })

  it('records e-mails as failed once when SMTP is not configured', async () => {
    await deps.db.insert(notifications).values({
      tenantId,
      channel: 'email',
      recipient: 'nina@example.com',
      event: 'test',
      subject: 'off',
      body: 'off',
    })
    await deliverDue({ db: deps.db, config: { ...deps.config, smtp: null } }, null)
    const row = (
      await deps.db.select().from(notifications).where(eq(notifications.subject, 'off'))
    )[0]!
    expect(row).toMatchObject({ status: 'failed', error: SMTP_OFF, attempts: 1 })
    // Every mail the server received was one the panel recorded as sent.
    const sent = await deps.db
      .select()
      .from(notifications)
      .where(and(eq(notifications.channel, 'email'), eq(notifications.status, 'sent')))
    expect(mails().length).toBe(sent.length)
  })
})
