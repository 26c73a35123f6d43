import { Hono } from 'hono'
import { listPolicies } from '../../db/policies.ts'
import { getJob, type Job } from '../../db/jobs.ts'
import { latestRunOfJob, runStagesOf } from '../../db/runs.ts'
import { requestBackup } from '../../domain/jobs.ts'
import { getPolicy } from '../../db/policies.ts'
import { nextRuns } from '../../schedule.ts'
import { type ApiEnv, auditApi, idOf } from './context.ts'
import { ApiError } from './errors.ts'
import { LimitError } from '../../errors.ts'

/** Policies, backup triggers and job status: no backup data, so the API key alone suffices. */
export const jobRoutes = new Hono<ApiEnv>()

function jobJson(job: Job) {
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    attempts: job.attempts,
    runAt: job.runAt,
    lastError: job.lastError,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  }
}

jobRoutes.get('/policies', async (c) => {
  const policies = (await listPolicies(c.get('deps').db, c.get('tenant').id)).map((p) => {
    const next = p.enabled ? nextRuns(p.schedule, p.timezone, 1) : null
    return {
      id: p.id,
      name: p.name,
      enabled: p.enabled,
      schedule: p.schedule,
      timezone: p.timezone,
      nextRun: next?.ok ? next.next[0]!.toISOString() : null,
      includeHome: p.includeHome,
      destinations: p.destinations.map((d) => ({ id: d.id, name: d.name, type: d.type })),
      databases: p.databases.map((d) => ({ id: d.id, engine: d.engine, name: d.name })),
    }
  })
  return c.json({ policies })
})

/** Queues a backup like Back up now (trigger `api`, limits apply); 202 with the job to poll. */
jobRoutes.post('/policies/:id/backups', async (c) => {
  const { db, wake } = c.get('deps')
  const tenant = c.get('tenant')
  const policy = await getPolicy(db, tenant.id, idOf(c, 'id'))
  let queued: Awaited<ReturnType<typeof requestBackup>>
  try {
    queued = await requestBackup(db, tenant.id, policy.id, 'api')
  } catch (err) {
    if (err instanceof LimitError) throw new ApiError(429, 'limit_reached', err.message)
    throw err
  }
  const { job, created } = queued
  await auditApi(c, 'backup.request', policy.name, { jobId: job.id, created })
  wake?.()
  c.header('Location', `/api/v1/jobs/${job.id}`)
  return c.json({ job: jobJson(job), created }, 202)
})

jobRoutes.get('/jobs/:id', async (c) => {
  const { db } = c.get('deps')
  const tenant = c.get('tenant')
  const job = await getJob(db, tenant.id, idOf(c, 'id'))
  const run = await latestRunOfJob(db, tenant.id, job.id)
  return c.json({
    job: jobJson(job),
    run: run
      ? {
          id: run.id,
          /** The tenant's own run number, as its pages show it. */
          number: run.number,
          kind: run.kind,
          trigger: run.trigger,
          status: run.status,
          error: run.error,
          bytes: run.bytes,
          progress: run.progress,
          startedAt: run.startedAt,
          finishedAt: run.finishedAt,
          stages: (await runStagesOf(db, run.id)).map((s) => ({
            name: s.name,
            destinationId: s.destinationId,
            status: s.status,
            message: s.message,
            bytes: s.bytes,
            snapshotId: s.snapshotId,
            startedAt: s.startedAt,
            finishedAt: s.finishedAt,
          })),
        }
      : null,
  })
})
