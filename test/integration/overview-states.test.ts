import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy, runningBackup } from '../support/tenants.ts'
import { getJob } from '../../src/db/jobs.ts'
import {
  createRun,
  finishRun,
  finishStage,
  logRun,
  setRunProgress,
  startStage,
} from '../../src/db/runs.ts'
import { deletePolicy } from '../../src/db/policies.ts'
import { auditLog, runStages, runs, tenants } from '../../src/db/schema.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { cancelRequested } from '../../src/db/job-cancel.ts'

const MiB = 2 ** 20
const LONG_REASON =
  'Offsite: The destination refused our credentials (403 Forbidden): check the access key and the secret key on Destinations, then run the backup again.'

/** The table row of the Overview that names `policy` (each policy here has one destination). */
function rowOf(page: string, policy: string): string {
  const rows = page.split('<tr').filter((r) => r.includes(`>${policy}<`))
  expect(rows, `one row for ${policy}`).toHaveLength(1)
  return rows[0]!
}

/** A finished backup run of `policyId` with one snapshot stage, ended at `at`. */
async function backupRun(
  deps: ReturnType<typeof freshDeps>,
  tenantId: number,
  policyId: number,
  destinationId: number,
  status: 'success' | 'partial' | 'failed',
  at: Date,
  reason: string | null = null,
) {
  const run = await createRun(deps.db, tenantId, {
    kind: 'backup',
    trigger: 'schedule',
    jobId: null,
    policyId,
    policyName: null,
  })
  const stage = await startStage(deps.db, run.id, 'snapshot', destinationId)
  await finishStage(deps.db, stage.id, status, {
    bytes: status === 'failed' ? null : 12 * MiB,
    message: reason,
  })
  await finishRun(deps.db, run.id, status, { error: reason ? `Offsite: ${reason}` : null })
  const started = new Date(at.getTime() - 41_000)
  await deps.db
    .update(runStages)
    .set({ startedAt: started, finishedAt: at })
    .where(eq(runStages.id, stage.id))
  await deps.db.update(runs).set({ startedAt: started, finishedAt: at }).where(eq(runs.id, run.id))
  return run
}

describe('the Overview says how each policy is doing, in colour and words', async () => {
  const deps = freshDeps()
  const { db } = deps
  const alice = await addTenant(deps, 'alice')
  await db.update(tenants).set({ timezone: 'Europe/Berlin' }).where(eq(tenants.id, alice.id))
  const bob = await addTenant(deps, 'bob')
  const dest = (await localDestination(deps, alice.id, 'nightly', 'Offsite')).id
  const mk = (name: string, extra = {}) =>
    policy(deps, alice.id, [dest], { name, timezone: 'Europe/Berlin', ...extra })
  const site = await mk('Site')
  const shop = await mk('Shop')
  const mail = await mk('Mail')
  const photos = await mk('Photos')
  const blog = await mk('Blog')
  const old = await mk('Archive', { enabled: false })
  const docs = await mk('Docs')

  const day = 86_400_000
  const now = Date.now()
  await backupRun(deps, alice.id, site, dest, 'success', new Date(now - 3_600_000))
  await backupRun(
    deps,
    alice.id,
    docs,
    dest,
    'partial',
    new Date(now - 7_200_000),
    '2 file(s) could not be read and are missing from this backup.',
  )
  // Shop: good once, then failing since 20 Nov 01:30 UTC (02:30 in Berlin), three runs in a row.
  await backupRun(deps, alice.id, shop, dest, 'success', new Date('2026-11-19T01:30:00Z'))
  const since = new Date('2026-11-20T01:30:00Z')
  await backupRun(deps, alice.id, shop, dest, 'failed', since, LONG_REASON)
  await backupRun(
    deps,
    alice.id,
    shop,
    dest,
    'failed',
    new Date(since.getTime() + day),
    LONG_REASON,
  )
  const lastShop = await backupRun(
    deps,
    alice.id,
    shop,
    dest,
    'failed',
    new Date(now - 2 * day),
    LONG_REASON,
  )
  // Mail failed before it reached any destination: no snapshot stage at all.
  const mailRun = await createRun(db, alice.id, {
    kind: 'backup',
    trigger: 'manual',
    jobId: null,
    policyId: mail,
  })
  await finishRun(db, mailRun.id, 'failed', {
    error: 'Your backups use 10 GiB of your 10 GiB storage limit; nothing new was stored.',
  })
  // Blog is running, scanning its files, with no finished backup yet.
  const { job: blogJob, run: blogRun } = await runningBackup(deps, alice.id, blog, 'Blog')
  await setRunProgress(db, blogRun.id, {
    stage: 'snapshot',
    phase: 'scanning',
    destination: 'Offsite',
    index: 0,
    of: 1,
    percent: null,
    totalFiles: 363,
    totalBytes: 40 * MiB,
    filesDone: 363,
    bytesDone: 40 * MiB,
    rate: 0,
    sent: 0,
    sentRate: 0,
  })

  const a = new Client(deps)
  await a.login('alice')
  const page = (await a.get('/backups')).body

  it('Healthy: the last run succeeded, with when, how much and how long in the tenant’s words', () => {
    const row = rowOf(page, 'Site')
    expect(row).toContain('<span class="badge badge-ok">Healthy</span>')
    expect(row).toMatch(/>(Today|Yesterday) at \d\d:\d\d</)
    expect(row).toContain('12 MiB added · took 41 s')
    expect(row).not.toContain('<details')
  })

  it('Failing since the first failure of the streak, in the tenant’s zone, the reason in full one click away', () => {
    const row = rowOf(page, 'Shop')
    expect(row).toContain('<span class="badge badge-bad">Failing</span>')
    expect(row).toMatch(
      /since Fri 20 Nov( 2026)? at 02:30<\/span><span class="muted small">3 failed runs in a row/,
    )
    expect(row).toContain('<details class="why"><summary>Why it failed</summary>')
    expect(row).toContain(LONG_REASON.replace('Offsite: ', ''))
    expect(row).toContain(`href="/backups/runs/${lastShop.id}">Run #${lastShop.number}`)
    // The last good backup is still named.
    expect(row).toMatch(/Thu 19 Nov( 2026)? at 02:30/)
    expect(row).not.toContain('No backups yet')
  })

  it('a run that failed before reaching the destination is a failure there too, never “No backups yet”', () => {
    const row = rowOf(page, 'Mail')
    expect(row).toContain('<span class="badge badge-bad">Failing</span>')
    expect(row).toContain('nothing new was stored.')
    expect(row).toContain('None has succeeded yet')
    expect(row).not.toContain('No backups yet')
  })

  it('Incomplete: a backup was stored but files are missing, and which is one click away', () => {
    const row = rowOf(page, 'Docs')
    expect(row).toContain('<span class="badge badge-warn">Incomplete</span>')
    expect(row).toContain('<summary>What is missing</summary>')
    expect(row).toContain('2 file(s) could not be read')
    expect(row).toContain('12 MiB added')
  })

  it('Never run, Running and Paused say so', () => {
    expect(rowOf(page, 'Photos')).toContain('<span class="badge badge-muted">Never run</span>')
    const running = rowOf(page, 'Blog')
    expect(running).toContain('<span class="badge">Running</span>')
    expect(running).not.toContain('0 s')
    expect(running).not.toContain('No backups yet')
    const paused = rowOf(page, 'Archive')
    expect(paused).toContain('<span class="badge badge-muted">Paused</span>')
    expect(old).toBeGreaterThan(0)
  })

  it('says the next run in the tenant’s words', () => {
    // Daily at 03:00 in Berlin: today or tomorrow, never a bare "in 9 h".
    expect(rowOf(page, 'Site')).toMatch(/>(Today|Tomorrow) at 03:00</)
    expect(rowOf(page, 'Archive')).toContain('<span class="muted">Paused</span>')
  })

  it('shows the running backup’s honest phase, and a Cancel button', () => {
    expect(page).toContain('Backing up “Blog”')
    expect(page).toContain('Scanning your files: 363 found so far (40 MiB)')
    expect(page).not.toContain('100%')
    expect(page).toContain(`action="/backups/jobs/${blogJob.id}/cancel"`)
  })

  it('numbers runs per tenant: bob’s first run is #1 whatever alice ran', async () => {
    const first = await createRun(db, bob.id, {
      kind: 'backup',
      trigger: 'manual',
      jobId: null,
      policyId: null,
    })
    expect(first.number).toBe(1)
    expect(first.id).toBeGreaterThan(5)
    const b = new Client(deps)
    await b.login('bob')
    const overview = (await b.get('/backups')).body
    expect(overview).toContain(`<a href="/backups/runs/${first.id}">#1</a>`)
    expect((await b.get(`/backups/runs/${first.id}`)).body).toContain('Backup run #1</h1>')
    // alice's numbers are her own: 1 to 8 so far, newest first in her history.
    const numbers = [...page.matchAll(/<a href="\/backups\/runs\/\d+">#(\d+)<\/a>/g)].map((m) =>
      Number(m[1]),
    )
    expect(numbers).toEqual([8, 7, 6, 5, 4, 3, 2, 1])
    // Another tenant's run is a 404, whatever its number.
    expect((await b.get(`/backups/runs/${blogRun.id}`)).status).toBe(404)
  })

  it('keeps a deleted policy’s name on its running job and in history', async () => {
    const carol = await addTenant(deps, 'carol')
    const carolDest = (await localDestination(deps, carol.id, 'nightly', 'Offsite')).id
    const temp = await policy(deps, carol.id, [carolDest], { name: 'Temp site' })
    const { run } = await runningBackup(deps, carol.id, temp, 'Temp site', 'test-runner-2')
    await logRun(db, run.id, 'info', 'started')
    await deletePolicy(db, carol.id, temp)
    const c = new Client(deps)
    await c.login('carol')
    const overview = (await c.get('/backups')).body
    expect(overview).toContain('Backing up “Temp site” (policy deleted)')
    expect(overview).toContain('Backup “Temp site” (policy deleted)')
    expect(overview).not.toContain('“?”')
    expect((await c.get(`/backups/runs/${run.id}`)).body).toContain('Policy “Temp site”')
  })

  it('cancels a queued job after a confirmation, without JavaScript; the history says so', async () => {
    const dana = await addTenant(deps, 'dana')
    const d = (await localDestination(deps, dana.id, 'nightly', 'Offsite')).id
    const nightly = await policy(deps, dana.id, [d], { name: 'Nightly' })
    const job = (await requestBackup(db, dana.id, nightly, 'manual')).job
    const client = new Client(deps)
    await client.login('dana')
    expect((await client.get('/backups')).body).toContain('Waiting to start')
    // Another tenant cannot cancel it, nor see it.
    expect((await a.post(`/backups/jobs/${job.id}/cancel`, { confirm: 'yes' })).status).toBe(404)
    // Without confirm=yes (a plain form, no JavaScript): a page that asks first, nothing done.
    const ask = await client.post(`/backups/jobs/${job.id}/cancel`, {})
    expect(ask.status).toBe(200)
    expect(ask.body).toContain('Cancel the backup of “Nightly”?')
    expect(ask.body).toContain('name="confirm" value="yes"')
    expect((await getJob(db, dana.id, job.id)).status).toBe('queued')
    // Without the CSRF token: refused.
    const forged = await client.post(
      `/backups/jobs/${job.id}/cancel`,
      { confirm: 'yes' },
      { csrf: 'none' },
    )
    expect(forged.status).toBe(403)
    const res = await client.post(`/backups/jobs/${job.id}/cancel`, { confirm: 'yes' })
    expect(res.status).toBe(303)
    expect(await getJob(db, dana.id, job.id)).toMatchObject({
      status: 'failed',
      lastError: 'Cancelled by you.',
    })
    const after = (await client.get('/backups')).body
    expect(after).toContain('Cancelled the backup of “Nightly” before it started.')
    expect(after).not.toContain('Waiting to start')
    expect(after).toContain('<span class="badge badge-muted">Cancelled</span>')
    expect(after).toContain('Cancelled by you before it started.')
    expect(after).toContain('>#1</a>')
    // A cancelled run is neither a success nor a failure: the row still says Never run.
    expect(rowOf(after, 'Nightly')).toContain('Never run')
    const audit = await db.select().from(auditLog).where(eq(auditLog.action, 'job.cancel'))
    expect(audit.at(-1)).toMatchObject({ tenantId: dana.id, actor: 'dana' })
    // A second try: it has ended, nothing to cancel.
    const again = await client.post(`/backups/jobs/${job.id}/cancel`, { confirm: 'yes' })
    expect(again.status).toBe(303)
    expect((await client.get('/backups')).body).toContain('had already finished')
  })

  it('asks the runner to stop a running job, from the Overview or its run page', async () => {
    expect(await cancelRequested(db, [blogJob.id])).toEqual([])
    const runPage = (await a.get(`/backups/runs/${blogRun.id}`)).body
    expect(runPage).toContain(`hx-get="/backups/runs/${blogRun.id}/live"`)
    expect(runPage).toContain('Scanning your files: 363 found so far')
    expect(runPage).toContain(`action="/backups/jobs/${blogJob.id}/cancel?from=run"`)
    const ask = await a.post(`/backups/jobs/${blogJob.id}/cancel?from=run`, {})
    expect(ask.body).toContain('Stop the backup of “Blog”?')
    expect(ask.body).toContain(`href="/backups/runs/${blogRun.id}"`)
    const res = await a.post(`/backups/jobs/${blogJob.id}/cancel?from=run`, { confirm: 'yes' })
    expect(res.location).toBe(`/backups/runs/${blogRun.id}`)
    expect(await cancelRequested(db, [blogJob.id])).toEqual([blogJob.id])
    const live = await a.get(`/backups/runs/${blogRun.id}/live`, { 'hx-request': 'true' })
    expect(live.body).toContain('Cancelling: stopping the backup and cleaning up')
    expect(live.body).not.toContain('/cancel')
  })
})
