import { Hono } from 'hono'
import type { Db } from '../db/client.ts'
import { listDestinations } from '../db/destinations.ts'
import { activeJobs, type Job } from '../db/jobs.ts'
import { policyIdOf } from '../db/job-payloads.ts'
import { listPolicies } from '../db/policies.ts'
import {
  getRun,
  latestBackupStages,
  latestRunOfJob,
  listRuns,
  runLogsOf,
  runStagesOf,
} from '../db/runs.ts'
import { requestBackup } from '../domain/jobs.ts'
import { requestVerify } from '../domain/verify.ts'
import { latestVerifications, verificationsOfRuns } from '../db/verifications.ts'
import { LimitError } from '../errors.ts'
import { limitsOf, storedUsage } from '../db/limits.ts'
import { safetyCount } from '../db/snapshots.ts'
import { onDemandUsage } from '../domain/limits.ts'
import { UsageCard } from '../../views/usage.tsx'
import { Activity, OverviewPage, type ActiveItem, type LastResult } from '../../views/overview.tsx'
import { RunPage } from '../../views/run.tsx'
import { getPolicy } from '../db/policies.ts'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, idParam, isHtmx, pageCtx, redirectTo, tenantOf } from './context.ts'

export const backupRoutes = new Hono<AppEnv>()

function activity(db: Db, tenantId: number, policyNames: Map<number, string>): ActiveItem[] {
  const now = Date.now()
  // A job first due later (a verification spread over the coming hours) is not activity yet:
  // listing it would keep the page polling and never reload it when Back up now finishes.
  const current = (job: Job) =>
    job.status === 'running' || job.attempts > 0 || job.runAt.getTime() <= now
  return activeJobs(db, tenantId)
    .filter(current)
    .map((job) => {
      const run = latestRunOfJob(db, tenantId, job.id) ?? null
      const policyId = policyIdOf(job)
      return {
        job,
        run: run?.status === 'running' ? run : null,
        policyName: policyId ? (policyNames.get(policyId) ?? null) : null,
      }
    })
}

backupRoutes.get('/', (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const policies = listPolicies(db, tenant.id)
  const names = new Map(policies.map((p) => [p.id, p.name]))
  const last = new Map<string, LastResult>()
  for (const r of latestBackupStages(db, tenant.id)) {
    const key = `${r.run.policyId}:${r.stage.destinationId}`
    if (!last.has(key)) last.set(key, r)
  }
  const runs20 = listRuns(db, tenant.id, { limit: 20 })
  const modes = new Map(
    verificationsOfRuns(
      db,
      tenant.id,
      runs20.map((r) => r.id),
    ).map((v) => [v.runId, v.mode]),
  )
  // A verify run still going has no verification yet: its job says which kind it is.
  const pending = new Map(activeJobs(db, tenant.id).map((j) => [j.id, j]))
  for (const r of runs20) {
    if (r.kind !== 'verify' || modes.has(r.id) || !r.jobId) continue
    const job = pending.get(r.jobId)
    const mode = job?.kind === 'verify' ? job.payload.mode : undefined
    if (mode) modes.set(r.id, mode)
  }
  const hosted = new Set(policies.filter((p) => p.providerPolicyId !== null).map((p) => p.id))
  const history = runs20.map((r) => ({
    ...r,
    policyName: r.policyId ? (names.get(r.policyId) ?? null) : null,
    host: r.policyId !== null && hosted.has(r.policyId),
    verifyMode: modes.get(r.id) ?? null,
  }))
  return c.html(
    <OverviewPage
      ctx={pageCtx(c)}
      policies={policies}
      destinationCount={listDestinations(db, tenant.id).length}
      last={last}
      verified={latestVerifications(db, tenant.id, 'restore')}
      active={activity(db, tenant.id, names)}
      history={history}
      usage={
        <UsageCard
          stored={storedUsage(db, tenant.id)}
          safety={safetyCount(db, tenant.id)}
          limits={limitsOf(db, tenant)}
          onDemand={onDemandUsage(db, tenant)}
          timezone={tenant.timezone}
        />
      }
    />,
  )
})

backupRoutes.get('/activity', (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const names = new Map(listPolicies(db, tenant.id).map((p) => [p.id, p.name]))
  const items = activity(db, tenant.id, names)
  // When the last job finishes, reload the page so the table and history show the result.
  if (!items.length && isHtmx(c)) c.header('HX-Refresh', 'true')
  return c.html(<Activity items={items} />)
})

backupRoutes.post('/policies/:id/run', (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  let requested: ReturnType<typeof requestBackup>
  try {
    requested = requestBackup(db, tenant.id, idParam(c), 'manual')
  } catch (err) {
    // Past the on-demand limit: the Overview says so, and when the next one is possible.
    if (err instanceof LimitError)
      return redirectTo(c, '/backups', { kind: 'error', text: err.message })
    throw err
  }
  const { job, created } = requested
  const policy = getPolicy(db, tenant.id, idParam(c))
  auditWeb(c, 'backup.request', { target: policy.name, details: { job: job.id, queued: created } })
  c.get('deps').wake?.()
  const text = created
    ? 'Backup queued: progress shows below.'
    : 'A backup of this policy is already queued or running.'
  return redirectTo(c, '/backups', { kind: 'ok', text })
})

backupRoutes.post('/policies/:id/verify', (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  let requested: ReturnType<typeof requestVerify>
  try {
    requested = requestVerify(db, tenant.id, idParam(c), 'restore', 'manual')
  } catch (err) {
    if (err instanceof LimitError)
      return redirectTo(c, '/backups', { kind: 'error', text: err.message })
    throw err
  }
  const { job, created } = requested
  auditWeb(c, 'verify.request', {
    target: getPolicy(db, tenant.id, idParam(c)).name,
    details: { mode: 'restore', job: job.id, queued: created },
  })
  c.get('deps').wake?.()
  const text = created
    ? 'Test restore queued: the latest snapshot is restored into a sandbox and checked, then removed.'
    : 'A test restore of this policy is already queued or running; it starts now.'
  return redirectTo(c, '/backups', { kind: 'ok', text })
})

backupRoutes.get('/runs/:id', (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const run = getRun(db, tenant.id, idParam(c))
  const dests = new Map(listDestinations(db, tenant.id).map((d) => [d.id, d.name]))
  const stages = runStagesOf(db, run.id).map((s) => ({
    ...s,
    destinationName: s.destinationId ? (dests.get(s.destinationId) ?? null) : null,
  }))
  const policyName = run.policyId
    ? (listPolicies(db, tenant.id).find((p) => p.id === run.policyId)?.name ?? null)
    : null
  return c.html(
    <RunPage
      ctx={pageCtx(c)}
      run={run}
      policyName={policyName}
      stages={stages}
      logs={runLogsOf(db, run.id)}
    />,
  )
})
