import { Hono } from 'hono'
import { desc, eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { listDestinations } from '../db/destinations.ts'
import { activeJobs } from '../db/jobs.ts'
import { listPolicies } from '../db/policies.ts'
import { getRun, latestBackupStages, listRuns, runLogsOf, runStagesOf } from '../db/runs.ts'
import { runs } from '../db/schema.ts'
import { requestBackup } from '../domain/jobs.ts'
import { Activity, OverviewPage, type ActiveItem, type LastResult } from '../../views/overview.tsx'
import { RunPage } from '../../views/run.tsx'
import { type AppEnv, idParam, isHtmx, pageCtx, redirectTo, tenantOf } from './context.ts'

export const backupRoutes = new Hono<AppEnv>()

function activity(db: Db, tenantId: number, policyNames: Map<number, string>): ActiveItem[] {
  return activeJobs(db, tenantId).map((job) => {
    const run = db.select().from(runs).where(eq(runs.jobId, job.id)).orderBy(desc(runs.id)).get() ?? null
    const policyId = (job.payload as { policyId?: number }).policyId
    return { job, run: run?.status === 'running' ? run : null, policyName: policyId ? (policyNames.get(policyId) ?? null) : null }
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
  const history = listRuns(db, tenant.id, { limit: 20 }).map((r) => ({ ...r, policyName: r.policyId ? (names.get(r.policyId) ?? null) : null }))
  return c.html(
    <OverviewPage
      ctx={pageCtx(c)}
      policies={policies}
      destinationCount={listDestinations(db, tenant.id).length}
      last={last}
      active={activity(db, tenant.id, names)}
      history={history}
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
  const { created } = requestBackup(db, tenant.id, idParam(c), 'manual')
  c.get('deps').wake?.()
  const text = created ? 'Backup queued: progress shows below.' : 'A backup of this policy is already queued or running.'
  return redirectTo(c, '/backups', { kind: 'ok', text })
})

backupRoutes.get('/runs/:id', (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const run = getRun(db, tenant.id, idParam(c))
  const dests = new Map(listDestinations(db, tenant.id).map((d) => [d.id, d.name]))
  const stages = runStagesOf(db, run.id).map((s) => ({ ...s, destinationName: s.destinationId ? (dests.get(s.destinationId) ?? null) : null }))
  const policyName = run.policyId ? (listPolicies(db, tenant.id).find((p) => p.id === run.policyId)?.name ?? null) : null
  return c.html(<RunPage ctx={pageCtx(c)} run={run} policyName={policyName} stages={stages} logs={runLogsOf(db, run.id)} />)
})
