import { describe, expect, it } from 'vitest'
import { desc, eq } from 'drizzle-orm'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import {
  claimJob,
  enqueue,
  getRunnerSetting,
  setRunnerSetting,
  uploadLimitKiB,
} from '../../src/db/jobs.ts'
import { createRun, setRunProgress } from '../../src/db/runs.ts'
import { setTenantDisabled } from '../../src/domain/tenants.ts'
import { auditLog, jobs } from '../../src/db/schema.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'

describe('Admin > Runner', async () => {
  const deps = freshDeps()
  const { db } = deps
  await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
  const alice = await addTenant(deps, 'alice')
  const bob = await addTenant(deps, 'bob')
  const carol = await addTenant(deps, 'carol')
  const admin = new Client(deps)
  await admin.login('boss')
  const tenant = new Client(deps)
  await tenant.login('alice')
  const lastAudit = async () => (await db.select().from(auditLog).orderBy(desc(auditLog.id)))[0]!

  it('is for admins only: tenants get 404, visitors the sign-in page', async () => {
    for (const path of ['/admin/runner', '/admin/runner/live'])
      expect((await tenant.get(path)).status).toBe(404)
    for (const path of [
      '/admin/runner/pause',
      '/admin/runner/settings',
      '/admin/runner/jobs/1/cancel',
    ]) {
      expect((await tenant.post(path, { concurrency: '1' })).status).toBe(404)
    }
    expect(await getRunnerSetting(db, 'paused')).toBeUndefined()
    const visitor = await new Client(deps).get('/admin/runner')
    expect(visitor.status).toBe(302)
    expect(visitor.location).toBe('/login?next=%2Fadmin%2Frunner')
  })

  it('shows an idle runner that does not poll', async () => {
    const page = (await admin.get('/admin/runner')).body
    expect(page).toContain('href="/admin/runner" class="nav-link active"')
    expect(page).toContain('No job is running.')
    expect(page).toContain('The queue is empty.')
    expect(page).toContain('Pause runner')
    expect(page).not.toContain('hx-trigger="every 2s"')
  })

  it('pauses and resumes, with CSRF and an audit entry each time', async () => {
    expect((await admin.post('/admin/runner/pause', {}, { csrf: 'none' })).status).toBe(403)
    expect(await getRunnerSetting(db, 'paused')).toBeUndefined()
    const res = await admin.post('/admin/runner/pause', {})
    expect(res.status).toBe(303)
    expect(await getRunnerSetting(db, 'paused')).toBe('1')
    expect(await lastAudit()).toMatchObject({
      actor: 'boss',
      action: 'runner.pause',
      tenantId: null,
    })
    // app.request() has no socket behind it, so the panel records its fixed stand-in address.
    expect((await lastAudit()).ip).toBe('unknown')
    const paused = (await admin.get('/admin/runner')).body
    expect(paused).toContain('Runner paused: no new job starts; running jobs finish.')
    expect(paused).toContain('Resume runner')
    await admin.post('/admin/runner/resume', {})
    expect(await getRunnerSetting(db, 'paused')).toBe('0')
    expect(await lastAudit()).toMatchObject({ actor: 'boss', action: 'runner.resume' })
    expect((await admin.get('/admin/runner')).body).toContain('Pause runner')
  })

  it.each([
    ['0', 'concurrency', 'Use a whole number from 1 to 64'],
    ['65', 'concurrency', 'Use a whole number from 1 to 64'],
    ['two', 'concurrency', 'Use a whole number from 1 to 64'],
    ['-3', 'uploadLimit', 'Use MiB per second like 10 or 0.5'],
    ['0', 'uploadLimit', 'Use MiB per second like 10 or 0.5'],
    ['fast', 'uploadLimit', 'Use MiB per second like 10 or 0.5'],
  ])('refuses %s as %s beside the field, keeping what was typed', async (value, field, message) => {
    const form = { concurrency: '4', uploadLimit: '', [field]: value }
    const res = await admin.post('/admin/runner/settings', form)
    expect(res.status).toBe(422)
    expect(res.body).toMatch(
      new RegExp(`<p class="field-error" id="f-${field}-error" role="alert">${message}`),
    )
    expect(res.body).toContain(`name="${field}" type="text" value="${value}"`)
    expect(await getRunnerSetting(db, 'concurrency')).toBeUndefined()
  })

  it('saves concurrency and the upload limit (MiB/s in, KiB/s stored) and shows them back', async () => {
    const res = await admin.post('/admin/runner/settings', { concurrency: '8', uploadLimit: '2.5' })
    expect(res.status).toBe(303)
    expect(await getRunnerSetting(db, 'concurrency')).toBe('8')
    expect(await uploadLimitKiB(db)).toBe(2560)
    const entries = await db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(2)
    expect(entries.map((e) => e.action).sort()).toEqual([
      'runner.concurrency',
      'runner.upload-limit',
    ])
    expect(entries.find((e) => e.action === 'runner.upload-limit')!.details).toEqual({
      from: 'none',
      to: '2560 KiB/s',
    })
    const page = (await admin.get('/admin/runner')).body
    expect(page).toContain('Runner settings saved.')
    expect(page).toContain('name="concurrency" type="text" value="8"')
    expect(page).toContain('name="uploadLimit" type="text" value="2.5"')
    // Blank puts both back: each runner's own default and no limit.
    await admin.post('/admin/runner/settings', { concurrency: '', uploadLimit: '' })
    expect(await getRunnerSetting(db, 'concurrency')).toBe('')
    expect(await uploadLimitKiB(db)).toBeNull()
  })

  it('lists the queue in claim order and running jobs with live progress', async () => {
    const now = new Date()
    // carol ran a job a minute ago, so bob (never ran) goes before her; alice's job is a retry later.
    const old = (
      await enqueue(db, {
        kind: 'backup',
        tenantId: carol.id,
        payload: { policyId: 0, trigger: 'schedule' },
      })
    ).job
    await db
      .update(jobs)
      .set({ status: 'done', updatedAt: new Date(now.getTime() - 60_000) })
      .where(eq(jobs.id, old.id))
    const carolJob = (
      await enqueue(db, {
        kind: 'backup',
        tenantId: carol.id,
        payload: { policyId: 0, trigger: 'manual' },
      })
    ).job
    const bobPolicy = await policy(deps, bob.id, [(await localDestination(deps, bob.id)).id], {
      name: 'Shop files',
    })
    const bobJob = (
      await enqueue(db, {
        kind: 'verify',
        tenantId: bob.id,
        payload: { trigger: 'schedule', policyId: bobPolicy },
      })
    ).job
    // 80 min ahead renders as "in 1 h" for the next 20 min, so a slow run cannot change the text.
    const later = new Date(now.getTime() + 80 * 60_000)
    const aliceJob = (
      await enqueue(db, {
        kind: 'backup',
        tenantId: alice.id,
        payload: { policyId: 0, trigger: 'cli' },
        runAt: later,
      })
    ).job
    await db
      .update(jobs)
      .set({ attempts: 2, lastError: 'The destination refused our credentials' })
      .where(eq(jobs.id, aliceJob.id))

    const queued = (await admin.get('/admin/runner')).body
    const order = [...queued.matchAll(/href="\/admin\/tenants\/\d+">(\w+)<\/a>/g)].map((m) => m[1])
    expect(order).toEqual(['bob', 'carol', 'alice'])
    expect(queued).toContain('Queue (3, 2 due)')
    expect(queued).toContain('Verify<span class="muted"> · Shop files</span>')
    expect(queued).toContain('Retry in 1 h')
    expect(queued).toContain('The destination refused our credentials')
    expect(queued).toContain('hx-trigger="every 2s"') // due jobs may start any moment

    // bob's job starts and reports progress: a running row with a progress bar at 42%.
    const claimed = (await claimJob(db, 'host-a:1:test', 60_000))!
    expect(claimed.id).toBe(bobJob.id)
    const run = await createRun(db, bob.id, {
      kind: 'verify',
      trigger: 'schedule',
      jobId: bobJob.id,
      policyId: null,
    })
    await setRunProgress(db, run.id, {
      stage: 'snapshot',
      percent: 42,
      filesDone: 21,
      totalFiles: 50,
      bytesDone: 4 * 2 ** 20,
      totalBytes: 10 * 2 ** 20,
      destination: 'Offsite',
    })
    const live = await admin.get('/admin/runner/live', { 'hx-request': 'true' })
    expect(live.body).toMatch(
      /^<section id="runner-live" hx-get="\/admin\/runner\/live" hx-trigger="every 2s"/,
    )
    expect(live.body).toContain('Running now (1)')
    expect(live.body).toMatch(/<progress class="progress" max="100" value="42"/)
    expect(live.body).toContain('42% · 21 of 50 files · 4 MiB of 10 MiB · to Offsite')
    expect(live.body).toContain('host-a:1:test')
    expect(live.body).not.toContain('<html') // a fragment, not a page
    expect((await admin.get('/admin/runner/live')).location).toBe('/admin/runner')

    // A disabled tenant's job waits, and says why.
    await setTenantDisabled(db, carol.id, true)
    expect((await admin.get('/admin/runner')).body).toContain(
      'Tenant disabled: waits until enabled',
    )
    await setTenantDisabled(db, carol.id, false)
    expect((await db.select().from(jobs).where(eq(jobs.id, carolJob.id)))[0]!.status).toBe('queued')
    expect((await admin.get('/admin/runner')).body).not.toContain(
      'Tenant disabled: waits until enabled',
    )
  })

  it('cancels a queued job but never one that already started', async () => {
    const queued = await db.select().from(jobs).where(eq(jobs.status, 'queued'))
    const target = queued.find((j) => j.tenantId === alice.id)!
    const res = await admin.post(
      `/admin/runner/jobs/${target.id}/cancel`,
      { confirm: 'yes' },
      { htmx: true },
    )
    expect(res.status).toBe(204)
    expect(res.headers.get('hx-redirect')).toBe('/admin/runner')
    expect((await db.select().from(jobs).where(eq(jobs.id, target.id)))[0]).toBeUndefined()
    expect(await lastAudit()).toMatchObject({
      actor: 'boss',
      action: 'job.cancel',
      tenantId: alice.id,
      target: `backup job ${target.id}`,
    })
    expect((await admin.get('/admin/runner')).body).toContain(
      'Cancelled the queued backup of alice.',
    )

    const running = (await db.select().from(jobs).where(eq(jobs.status, 'running')))[0]!
    await admin.post(`/admin/runner/jobs/${running.id}/cancel`, { confirm: 'yes' })
    expect((await db.select().from(jobs).where(eq(jobs.id, running.id)))[0]!.status).toBe('running')
    expect((await admin.get('/admin/runner')).body).toContain('That job is no longer queued')
    expect((await admin.post('/admin/runner/jobs/abc/cancel', {})).status).toBe(404)
  })

  it('stops polling once nothing runs and nothing due can start', async () => {
    await setRunnerSetting(db, 'paused', '1')
    await db.update(jobs).set({ status: 'done' }).where(eq(jobs.status, 'running'))
    const live = await admin.get('/admin/runner/live', { 'hx-request': 'true' })
    expect(live.body).toContain('No job is running.')
    expect(live.body).toContain('Due: waits for resume')
    expect(live.body).not.toContain('hx-trigger')
  })
})
