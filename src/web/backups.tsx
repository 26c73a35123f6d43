import { Hono } from 'hono'
import type { Db } from '../db/client.ts'
import { listDestinations } from '../db/destinations.ts'
import { activeJobs, getJob, type Job } from '../db/jobs.ts'
import { policyIdOf } from '../db/job-payloads.ts'
import type { Run } from '../db/schema.ts'
import { listPolicies } from '../db/policies.ts'
import { getRun, latestRunOfJob, listRuns, runLogsOf, runStagesOf } from '../db/runs.ts'
import { backupStates } from '../db/backup-state.ts'
import { cancelTenantJob } from '../db/job-cancel.ts'
import { safeZone } from '../zoned.ts'
import { requestBackup } from '../domain/jobs.ts'
import { requestVerify } from '../domain/verify.ts'
import { latestVerifications, verificationsOfRuns } from '../db/verifications.ts'
import { LimitError } from '../errors.ts'
import { limitsOf, storedUsage } from '../db/limits.ts'
import { safetyCount } from '../db/snapshots.ts'
import { onDemandUsage } from '../domain/limits.ts'
import { UsageCard } from '../../views/usage.tsx'
import { Activity, OverviewPage, jobWhat, type ActiveItem } from '../../views/overview.tsx'
import { RunPage } from '../../views/run.tsx'
import { RunLive } from '../../views/run-live.tsx'
import { askToConfirm, confirmed } from './confirm.tsx'
import { getPolicy } from '../db/policies.ts'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, idParam, isHtmx, pageCtx, redirectTo, tenantOf } from './context.ts'

export const backupRoutes = new Hono<AppEnv>()

/** The tenant's queued and running jobs that are due, each with its run and policy name. */
async function activity(
  db: Db,
  tenantId: number,
  policyNames: Map<number, string>,
): Promise<ActiveItem[]> {
  const now = Date.now()
  // A job first due later (a verification spread over the coming hours) is not activity yet:
  // listing it would keep the page polling and never reload it when Back up now finishes.
  const current = (job: Job) =>
    job.status === 'running' || job.attempts > 0 || job.runAt.getTime() <= now
  // A look at a destination or a file list is the Restore page's to show, and quick.
  const shown = (job: Job) => job.kind !== 'sync-snapshots' && job.kind !== 'index-snapshot'
  // The running job first (a tenant runs one at a time), then the queue, newest first.
  const running = (job: Job) => (job.status === 'running' ? 0 : 1)
  const jobs = (await activeJobs(db, tenantId))
    .filter((job) => shown(job) && current(job))
    .sort((a, b) => running(a) - running(b))
  const items: ActiveItem[] = []
  for (const job of jobs) items.push(await activeItem(db, tenantId, job, policyNames))
  return items
}

async function activeItem(
  db: Db,
  tenantId: number,
  job: Job,
  policyNames: Map<number, string>,
): Promise<ActiveItem> {
  const run = (await latestRunOfJob(db, tenantId, job.id)) ?? null
  const policyId = policyIdOf(job)
  const current = policyId ? policyNames.get(policyId) : undefined
  // A policy deleted while its job waits or runs: the name it was queued with, or started with.
  const queuedAs = job.kind === 'backup' || job.kind === 'verify' ? job.payload.policyName : null
  const old = queuedAs ?? run?.policyName ?? null
  return {
    job,
    run: run?.status === 'running' ? run : null,
    policyName: current ?? old,
    policyGone: policyId !== null && current === undefined && old !== null,
  }
}

backupRoutes.get('/', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const policies = await listPolicies(db, tenant.id)
  const names = new Map(policies.map((p) => [p.id, p.name]))
  // Activity first: a job that ends after this read is still polled for, and the page reloads
  // when it does; read after the results, a job ending in between left neither its result nor
  // a poll on the page, and the row stayed as it was until the tenant reloaded.
  const active = await activity(db, tenant.id, names)
  const runs20 = await listRuns(db, tenant.id, { limit: 20 })
  const modes = new Map(
    (
      await verificationsOfRuns(
        db,
        tenant.id,
        runs20.map((r) => r.id),
      )
    ).map((v) => [v.runId, v.mode]),
  )
  // A verify run still going, or cancelled, has no verification: its job says which kind it is.
  for (const r of runs20) {
    if (r.kind !== 'verify' || modes.has(r.id) || !r.jobId) continue
    const job = await getJob(db, tenant.id, r.jobId)
    const mode = job.kind === 'verify' ? job.payload.mode : undefined
    if (mode) modes.set(r.id, mode)
  }
  const hosted = new Set(policies.filter((p) => p.providerPolicyId !== null).map((p) => p.id))
  const history = runs20.map((r) => {
    const current = r.policyId ? names.get(r.policyId) : undefined
    return {
      ...r,
      policyName: current ?? r.policyName,
      policyGone: current === undefined && r.policyName !== null,
      host: r.policyId !== null && hosted.has(r.policyId),
      verifyMode: modes.get(r.id) ?? null,
    }
  })
  return c.html(
    <OverviewPage
      ctx={pageCtx(c)}
      zone={safeZone(tenant.timezone)}
      policies={policies}
      destinationCount={(await listDestinations(db, tenant.id)).length}
      states={await backupStates(db, tenant.id, policies)}
      verified={await latestVerifications(db, tenant.id, 'restore')}
      active={active}
      history={history}
      usage={
        <UsageCard
          stored={await storedUsage(db, tenant.id)}
          safety={await safetyCount(db, tenant.id)}
          limits={await limitsOf(db, tenant)}
          onDemand={await onDemandUsage(db, tenant)}
          timezone={tenant.timezone}
        />
      }
    />,
  )
})

backupRoutes.get('/activity', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const names = new Map((await listPolicies(db, tenant.id)).map((p) => [p.id, p.name]))
  const items = await activity(db, tenant.id, names)
  // When the last job finishes, reload the page so the table and history show the result.
  if (!items.length && isHtmx(c)) c.header('HX-Refresh', 'true')
  return c.html(<Activity items={items} csrf={c.get('csrf')} />)
})

backupRoutes.post('/jobs/:id/cancel', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const job = await getJob(db, tenant.id, idParam(c))
  const names = new Map((await listPolicies(db, tenant.id)).map((p) => [p.id, p.name]))
  const what = jobWhat(await activeItem(db, tenant.id, job, names))
  const back = c.req.query('from') === 'run' ? await backToRun(db, tenant.id, job.id) : '/backups'
  if (!(await confirmed(c))) {
    const running = job.status === 'running'
    return askToConfirm(c, {
      title: running ? `Stop ${what}?` : `Cancel ${what}?`,
      points: running
        ? [
            'It stops within a few seconds. What it had not finished is not kept, and it is not tried again.',
            'Your earlier backups are not touched. A scheduled backup runs again at its next time.',
          ]
        : [
            'It is taken out of the queue and does not run.',
            'Your earlier backups are not touched. A scheduled backup runs again at its next time.',
          ],
      action: `/backups/jobs/${job.id}/cancel${back === '/backups' ? '' : '?from=run'}`,
      button: running ? 'Yes, stop it' : 'Yes, cancel it',
      cancel: back,
      active: 'overview',
    })
  }
  const { outcome } = await cancelTenantJob(db, tenant.id, job.id)
  if (outcome === 'finished') {
    const text = 'That job had already finished, so there was nothing to cancel.'
    return redirectTo(c, back, { kind: 'error', text })
  }
  await auditWeb(c, 'job.cancel', {
    target: what.replace(/^the /, ''),
    details: { job: job.id, kind: job.kind, was: job.status },
  })
  c.get('deps').wake?.()
  const text =
    outcome === 'stopping'
      ? `Stopping ${what}: it ends within a few seconds, marked “Cancelled by you”.`
      : `Cancelled ${what} before it started.`
  return redirectTo(c, back, { kind: 'ok', text })
})

/** The run page of the job's current run, else the Overview. */
async function backToRun(db: Db, tenantId: number, jobId: number): Promise<string> {
  const run = await latestRunOfJob(db, tenantId, jobId)
  return run ? `/backups/runs/${run.id}` : '/backups'
}

backupRoutes.post('/policies/:id/run', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  let requested: Awaited<ReturnType<typeof requestBackup>>
  try {
    requested = await requestBackup(db, tenant.id, idParam(c), 'manual')
  } catch (err) {
    // Past the on-demand limit: the Overview says so, and when the next one is possible.
    if (err instanceof LimitError)
      return redirectTo(c, '/backups', { kind: 'error', text: err.message })
    throw err
  }
  const { job, created } = requested
  const policy = await getPolicy(db, tenant.id, idParam(c))
  await auditWeb(c, 'backup.request', {
    target: policy.name,
    details: { job: job.id, queued: created },
  })
  c.get('deps').wake?.()
  const text = created
    ? 'Backup queued: progress shows below.'
    : 'A backup of this policy is already queued or running.'
  return redirectTo(c, '/backups', { kind: 'ok', text })
})

backupRoutes.post('/policies/:id/verify', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  let requested: Awaited<ReturnType<typeof requestVerify>>
  try {
    requested = await requestVerify(db, tenant.id, idParam(c), 'restore', 'manual')
  } catch (err) {
    if (err instanceof LimitError)
      return redirectTo(c, '/backups', { kind: 'error', text: err.message })
    throw err
  }
  const { job, created } = requested
  await auditWeb(c, 'verify.request', {
    target: (await getPolicy(db, tenant.id, idParam(c))).name,
    details: { mode: 'restore', job: job.id, queued: created },
  })
  c.get('deps').wake?.()
  const text = created
    ? 'Test restore queued: the latest backup is restored into a sandbox and checked, then removed.'
    : 'A test restore of this policy is already queued or running; it starts now.'
  return redirectTo(c, '/backups', { kind: 'ok', text })
})

backupRoutes.get('/runs/:id', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  let run = await getRun(db, tenant.id, idParam(c))
  const live = await runLive(db, tenant.id, run)
  // It ended between the two reads: show how it ended, since nothing polls for it now.
  if (!live && run.status === 'running') run = await getRun(db, tenant.id, run.id)
  const dests = new Map((await listDestinations(db, tenant.id)).map((d) => [d.id, d.name]))
  const stages = (await runStagesOf(db, run.id)).map((s) => ({
    ...s,
    destinationName: s.destinationId ? (dests.get(s.destinationId) ?? null) : null,
  }))
  const policyName = run.policyId
    ? ((await listPolicies(db, tenant.id)).find((p) => p.id === run.policyId)?.name ??
      run.policyName)
    : run.policyName
  return c.html(
    <RunPage
      ctx={pageCtx(c)}
      run={run}
      policyName={policyName}
      stages={stages}
      logs={await runLogsOf(db, run.id)}
      live={live}
    />,
  )
})

/** A running run's progress and its Cancel button; null once it has ended. */
async function runLive(db: Db, tenantId: number, run: Run) {
  if (run.status !== 'running' || !run.jobId) return null
  const job = await getJob(db, tenantId, run.jobId)
  if (job.status !== 'running') return null
  const names = new Map((await listPolicies(db, tenantId)).map((p) => [p.id, p.name]))
  return { ...(await activeItem(db, tenantId, job, names)), run }
}

backupRoutes.get('/runs/:id/live', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const run = await getRun(db, tenant.id, idParam(c))
  const live = await runLive(db, tenant.id, run)
  // The run ended: reload the page so its stages, result and log show.
  if (!live && isHtmx(c)) c.header('HX-Refresh', 'true')
  return c.html(<RunLive runId={run.id} item={live} csrf={c.get('csrf')} />)
})
