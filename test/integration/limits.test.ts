import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { desc, eq } from 'drizzle-orm'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { getAdminSettings, localRootOf, setAdminSetting } from '../../src/db/settings.ts'
import { getTenant } from '../../src/db/tenants.ts'
import { listRuns } from '../../src/db/runs.ts'
import { auditLog, jobs, policies, repositories, runLogs, tenants } from '../../src/db/schema.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { GIB, clock } from '../../src/domain/limits.ts'
import { ConflictError } from '../../src/errors.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'

const DAY = 24 * 3600 * 1000

describe('Policy limits set by the admin, enforced with a clear message', async () => {
  const deps = freshDeps()
  const { db } = deps
  await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
  const alice = await addTenant(deps, 'alice')
  await db
    .update(tenants)
    .set({ timezone: 'Europe/Berlin', homeDir: mkdtempSync(join(tmpdir(), 'home-alice-')) })
    .where(eq(tenants.id, alice.id))
  const bob = await addTenant(deps, 'bob')
  const dest = await localDestination(deps, alice.id)
  const policyId = await policy(deps, alice.id, [dest.id])
  const admin = new Client(deps)
  await admin.login('boss')
  await admin.get('/admin/settings') // the sign-in rotated the CSRF token; take the page's
  const tenant = new Client(deps)
  await tenant.login('alice')
  await tenant.get('/backups')
  const settings = { types: Object.keys(deps.drivers), allowlist: '' }
  const lastAudit = async () => (await db.select().from(auditLog).orderBy(desc(auditLog.id)))[0]!

  it('refuses bad limits beside their fields and keeps what was typed', async () => {
    const homeOfAlice = (await getTenant(db, alice.id)).homeDir
    const file = join(mkdtempSync(join(tmpdir(), 'lim-')), 'a-file')
    writeFileSync(file, 'x')
    const cases: [Record<string, string>, string, string][] = [
      [{ quotaGiB: 'lots' }, 'quotaGiB', 'Use a number of GiB like 50 or 0.5, or leave it blank.'],
      [{ quotaGiB: '0' }, 'quotaGiB', 'Use a number of GiB like 50 or 0.5'],
      [
        { quotaSnapshots: '0' },
        'quotaSnapshots',
        'Use a whole number of snapshots from 1 to 1000000, or leave it blank.',
      ],
      [
        { quotaRunsPerDay: '-1' },
        'quotaRunsPerDay',
        'Use a whole number of backups from 0 to 10000',
      ],
      [
        { minIntervalMinutes: '1.5' },
        'minIntervalMinutes',
        'Use a whole number of minutes from 0 to 10080',
      ],
      [{ localRoot: 'srv/backups' }, 'localRoot', 'Use an absolute path such as /srv/backups.'],
      [
        { localRoot: '/nonexistent/backups' },
        'localRoot',
        '“/nonexistent/backups” does not exist. Create the directory first.',
      ],
      [{ localRoot: file }, 'localRoot', `“${file}” is not a directory.`],
      [
        { localRoot: join(homeOfAlice) },
        'localRoot',
        `is inside the home folder of tenant alice; that tenant could read or change every backup there.`,
      ],
      [
        { localRoot: tmpdir() },
        'localRoot',
        `“${tmpdir()}” holds the home folder of tenant alice; choose a directory used only for backups.`,
      ],
    ]
    for (const [fields, field, message] of cases) {
      const res = await admin.post('/admin/settings', { ...settings, ...fields })
      expect(res.status, JSON.stringify(fields)).toBe(422)
      const error = res.body.match(new RegExp(`id="f-${field}-error" role="alert">([^<]*)<`))?.[1]
      expect(error?.replace(/&quot;/g, '"'), JSON.stringify(fields)).toContain(message)
      expect(res.body).toContain(`value="${Object.values(fields)[0]}"`)
    }
    const real = mkdtempSync(join(tmpdir(), 'real-root-'))
    const link = join(tmpdir(), `link-root-${process.pid}`)
    symlinkSync(real, link)
    const viaLink = await admin.post('/admin/settings', { ...settings, localRoot: link })
    expect(viaLink.body).toContain(`goes through a symbolic link; use the real path ${real}.`)
    rmSync(link)
    expect(await getAdminSettings(db)).toMatchObject({
      quotaBytes: null,
      quotaRunsPerDay: null,
      localRoot: null,
    })
  })

  it('saves panel-wide defaults (GiB in, bytes stored), audits the change and shows them back', async () => {
    const root = mkdtempSync(join(tmpdir(), 'backup-root-'))
    const res = await admin.post('/admin/settings', {
      ...settings,
      quotaGiB: '2.5',
      quotaSnapshots: '30',
      quotaRunsPerDay: '5',
      minIntervalMinutes: '120',
      localRoot: root,
    })
    expect(res.status).toBe(303)
    expect(await getAdminSettings(db)).toMatchObject({
      quotaBytes: 2.5 * GIB,
      quotaSnapshots: 30,
      quotaRunsPerDay: 5,
      minIntervalMinutes: 120,
      localRoot: root,
    })
    expect(await localRootOf(db, deps.config)).toBe(root)
    expect(await lastAudit()).toMatchObject({ actor: 'boss', action: 'settings.update' })
    expect(((await lastAudit()).details as { changed: string[] }).changed).toEqual(
      expect.arrayContaining([
        'quotaBytes',
        'quotaSnapshots',
        'quotaRunsPerDay',
        'minIntervalMinutes',
        'localRoot',
      ]),
    )
    const page = (await admin.get('/admin/settings')).body
    for (const [name, value] of [
      ['quotaGiB', '2.5'],
      ['quotaSnapshots', '30'],
      ['minIntervalMinutes', '120'],
      ['localRoot', root],
    ]) {
      expect(page).toMatch(new RegExp(`name="${name}" type="text" value="${value}"`))
    }
    // The tenant's page offers the defaults as placeholders for their own limits.
    const edit = (await admin.get(`/admin/tenants/${alice.id}`)).body
    expect(edit).toContain('placeholder="default: 2.5 GiB"')
    expect(edit).toContain('placeholder="default: 5"')
  })

  it('refuses a policy schedule more frequent than the minimum, beside the schedule field', async () => {
    const form = {
      name: 'Often',
      includeHome: 'on',
      destinations: String(dest.id),
      timezone: 'UTC',
      keepDaily: '7',
      enabled: 'on',
    }
    const hourly = await tenant.post('/backups/settings', { ...form, preset: 'hourly' })
    expect(hourly.status).toBe(422)
    expect(hourly.body).toMatch(
      /id="f-cron-error" role="alert">This schedule runs backups 1 hour apart; the administrator allows at most one every 2 hours\.</,
    )
    expect(hourly.body).toContain('value="Often"')
    const burst = await tenant.post('/backups/settings', {
      ...form,
      preset: 'custom',
      cron: '0 3,4 * * 1',
    })
    expect(burst.status).toBe(422)
    expect(burst.body).toContain('This schedule runs backups 1 hour apart')
    const ok = await tenant.post('/backups/settings', {
      ...form,
      preset: 'custom',
      cron: '0 */2 * * *',
    })
    expect(ok.status).toBe(303)
  })

  it('lets the admin override limits per tenant (blank = default), admin-only', async () => {
    expect(
      (await tenant.post(`/admin/tenants/${alice.id}/limits`, { quotaRunsPerDay: '99' })).status,
    ).toBe(404)
    const bad = await admin.post(
      `/admin/tenants/${alice.id}/limits`,
      { quotaGiB: '', quotaSnapshots: 'ten', quotaRunsPerDay: '2' },
      { htmx: true },
    )
    expect(bad.status).toBe(422)
    expect(bad.body).toMatch(/^<section class="card" id="limits">/)
    expect(bad.body).toContain('Use a whole number of snapshots from 1 to 1000000')
    expect(bad.body).toContain('value="ten"')
    expect((await getTenant(db, alice.id)).quotaRunsPerDay).toBeNull()
    const res = await admin.post(`/admin/tenants/${alice.id}/limits`, {
      quotaGiB: '',
      quotaSnapshots: '',
      quotaRunsPerDay: '2',
    })
    expect(res.status).toBe(303)
    expect(await getTenant(db, alice.id)).toMatchObject({
      quotaBytes: null,
      quotaSnapshots: null,
      quotaRunsPerDay: 2,
    })
    expect(await lastAudit()).toMatchObject({
      actor: 'boss',
      action: 'tenant.limits',
      tenantId: alice.id,
      target: 'alice',
    })
    expect((await lastAudit()).details).toEqual({ quotaRunsPerDay: { from: null, to: 2 } })
    expect((await admin.get(`/admin/tenants/${alice.id}`)).body).toMatch(
      /name="quotaRunsPerDay" type="text" value="2"/,
    )
    expect((await getTenant(db, bob.id)).quotaRunsPerDay).toBeNull()
  })

  it('counts on-demand backups over 24 hours and refuses past the limit with when the next is possible', async () => {
    const first = await tenant.post(`/backups/policies/${policyId}/run`, {})
    expect(first.status).toBe(303)
    // A second click while it is queued is the same backup, not another one.
    await tenant.post(`/backups/policies/${policyId}/run`, {})
    expect((await tenant.get('/backups')).body).toContain(
      'A backup of this policy is already queued or running.',
    )
    await db.update(jobs).set({ status: 'done' })
    await tenant.post(`/backups/policies/${policyId}/run`, {})
    await db.update(jobs).set({ status: 'done' })
    const before = (await db.select().from(jobs)).length
    const refused = await tenant.post(`/backups/policies/${policyId}/run`, {})
    expect(refused.status).toBe(303)
    const oldest = (await db.select().from(jobs).orderBy(jobs.id))[0]!
    const next = clock(new Date(oldest.createdAt.getTime() + DAY), 'Europe/Berlin')
    const message = `You have used 2 of 2 on-demand backups today; the next is possible after ${next}.`
    const overview = (await tenant.get('/backups')).body
    expect(overview).toContain(`<div class="flash flash-error" role="status">${message}</div>`)
    expect(overview).toContain(`the next is possible after ${next}. Scheduled backups still run.`)
    expect(await db.select().from(jobs)).toHaveLength(before)

    // The CLI and the API go through the same rule; the schedule never counts.
    await expect(requestBackup(db, alice.id, policyId, 'api')).rejects.toThrow(
      new ConflictError(message),
    )
    const cli = spawnSync('node', ['src/bin.js', 'backup', 'alice'], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PANEL_DATA_DIR: deps.config.dataDir,
        PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
        // This file's other freshDeps() set the variable to its own database last.
        ...(deps.config.databaseUrl ? { PANEL_DATABASE_URL: deps.config.databaseUrl } : {}),
      },
    })
    expect(cli.status).toBe(1)
    expect(cli.stderr.trim()).toBe(`panel: ${message}`)
    // Test restore now costs like a backup: refused on the page with the same words.
    await tenant.post(`/backups/policies/${policyId}/verify`, {})
    expect((await tenant.get('/backups')).body).toContain(
      `<div class="flash flash-error" role="status">${message}</div>`,
    )
    expect(await db.select().from(jobs)).toHaveLength(before)
    expect((await requestBackup(db, alice.id, policyId, 'schedule')).created).toBe(true)
    await db.update(jobs).set({ status: 'done' })

    // Once the oldest leaves the 24-hour window, one more is allowed.
    await db
      .update(jobs)
      .set({ createdAt: new Date(Date.now() - DAY - 60_000) })
      .where(eq(jobs.id, oldest.id))
    expect((await requestBackup(db, alice.id, policyId, 'cli')).created).toBe(true)
    await db.update(jobs).set({ status: 'done' })

    await db.update(tenants).set({ quotaRunsPerDay: 0 }).where(eq(tenants.id, alice.id))
    await expect(requestBackup(db, alice.id, policyId, 'manual')).rejects.toThrow(
      'On-demand backups are turned off for this account by the administrator; scheduled backups still run.',
    )
  })

  it('shows the tenant their usage against the limits on the Overview', async () => {
    const repo = (await db.select().from(repositories))[0]
    const values = { storedBytes: 3 * GIB, snapshotCount: 12, statsAt: new Date() }
    if (repo) await db.update(repositories).set(values)
    else
      await db
        .insert(repositories)
        .values({ tenantId: alice.id, destinationId: dest.id, passwordSealed: 'x', ...values })
    const page = (await tenant.get('/backups')).body
    expect(page).toContain('Usage and limits')
    expect(page).toMatch(
      /<dt>Stored data<\/dt><dd>3 GiB<span class="muted"> of 2.5 GiB<\/span><span class="badge badge-bad">Over the limit<\/span>/,
    )
    expect(page).toMatch(
      /<dt>Backups stored<\/dt><dd>12<span class="muted"> of 30<\/span><\/dd><progress class="progress" max="30" value="12"/,
    )
    expect(page).toContain(
      'Your backups are over a limit. The next backup first applies your retention settings',
    )
  })
})

describe.runIf(rootAvailable())(
  'quota enforcement before a backup (real restic, Local destination)',
  () => {
    const deps = freshDeps()
    const { db } = deps
    const root = mkdtempSync(join(tmpdir(), 'limits-root-'))
    let runner: Runner
    let alice: Awaited<ReturnType<typeof realTenant>>
    let policyId: number
    let destId: number

    beforeAll(async () => {
      alice = await realTenant(deps, 'alice', { 'site/index.html': '<h1>alice</h1>\n' })
      const dest = await localDestination(deps, alice.tenant.id)
      destId = dest.id
      policyId = await policy(deps, alice.tenant.id, [dest.id])
      runner = startRunner({ db, handlers: jobHandlers(deps), pollMs: 100, onError: () => {} })
    })
    afterAll(async () => {
      await runner?.stop()
      removeUsers()
    })

    async function backup() {
      const { job } = await requestBackup(db, alice.tenant.id, policyId, 'schedule')
      runner.wake()
      const done = await waitJob(deps, alice.tenant.id, job.id)
      return { job: done, run: (await listRuns(db, alice.tenant.id, { limit: 1 }))[0]! }
    }

    it('stores Local backups under the admin’s local root', async () => {
      await setAdminSetting(db, 'localRoot', root)
      const { job, run } = await backup()
      expect(job.status).toBe('done')
      expect(run.status).toBe('success')
      expect(existsSync(join(root, 'alice', 'repo', 'config'))).toBe(true)
      expect(existsSync(join(deps.config.localRoot, 'alice', 'repo'))).toBe(false)
    })

    const logOf = async (runId: number) =>
      (await db.select().from(runLogs).where(eq(runLogs.runId, runId)))
        .map((l) => l.message)
        .join('\n')

    it('fails at once, without retrying, when stored bytes stay over the limit, saying by how much', async () => {
      // The repository itself (config, keys, one snapshot) holds a few KiB: over 1,000 bytes.
      await db.update(tenants).set({ quotaBytes: 1000 }).where(eq(tenants.id, alice.tenant.id))
      const dest = await getDestination(db, alice.tenant.id, destId)
      const before = (await listSnapshots(deps, alice.tenant, dest)).length
      const { job, run } = await backup()
      expect(job).toMatchObject({ status: 'failed', attempts: 1 })
      expect(job.lastError).toMatch(
        /^Backup refused: your backups use [\d.]+ KiB, [\d.]+ KiB over the storage limit of 1000 B\. Keep fewer backups \(How long to keep backups, under Policies\) and back up again, or ask your administrator to raise the limit\.$/,
      )
      expect(run).toMatchObject({ status: 'failed', error: job.lastError })
      expect(await logOf(run.id)).toContain('Applying the retention settings first to free space.')
      expect((await listSnapshots(deps, alice.tenant, dest)).length).toBe(before)
    })

    it('over the snapshot limit, applies the retention the tenant lowered and then backs up', async () => {
      await db.update(tenants).set({ quotaBytes: null }).where(eq(tenants.id, alice.tenant.id))
      const keep = async (keepLast: number) =>
        await db
          .update(policies)
          .set({ keepLast, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 })
          .where(eq(policies.id, policyId))
      await keep(5)
      expect((await backup()).run.status).toBe('success')
      expect((await backup()).run.status).toBe('success')
      const dest = await getDestination(db, alice.tenant.id, destId)
      expect(await listSnapshots(deps, alice.tenant, dest)).toHaveLength(3)

      await db.update(tenants).set({ quotaSnapshots: 2 }).where(eq(tenants.id, alice.tenant.id))
      const refused = await backup()
      expect(refused.job).toMatchObject({ status: 'failed', attempts: 1 })
      expect(refused.run.error).toBe(
        'Backup refused: you have 3 backups stored, 1 over the limit of 2. Keep fewer backups (How long to keep backups, under Policies) and back up again, or ask your administrator to raise the limit.',
      )

      await keep(1) // the tenant keeps fewer snapshots: the next backup frees space first
      const ok = await backup()
      expect(ok.run.status).toBe('success')
      expect(await logOf(ok.run.id)).toContain(
        'Applying the retention settings first to free space.',
      )
      expect(await listSnapshots(deps, alice.tenant, dest)).toHaveLength(1)
      expect(
        (await db.select().from(repositories).where(eq(repositories.destinationId, destId)))[0]!
          .snapshotCount,
      ).toBe(1)
    })
  },
)
