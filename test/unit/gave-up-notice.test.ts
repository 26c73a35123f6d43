import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'
import { claimJob, enqueue } from '../../src/db/jobs.ts'
import { createRun } from '../../src/db/runs.ts'
import { notifications, tenants } from '../../src/db/schema.ts'
import { raiseGaveUp } from '../../src/notify/run-result.ts'

describe('a job whose last attempt died with its runner', () => {
  it('is reported as a failed backup on its interrupted run', async () => {
    const deps = freshDeps()
    const { db } = deps
    const t = await addTenant(deps, 'crashy')
    await db.update(tenants).set({ notifyEmail: 'owner@example.com' }).where(eq(tenants.id, t.id))
    const policyId = await policy(deps, t.id, [(await localDestination(deps, t.id)).id], {
      name: 'Nightly',
    })
    const { job } = await enqueue(db, {
      kind: 'backup',
      tenantId: t.id,
      payload: { policyId },
      maxAttempts: 1,
    })
    const start = new Date()
    await claimJob(db, 'dead', 1000, start)
    const run = await createRun(db, t.id, {
      kind: 'backup',
      trigger: 'manual',
      jobId: job.id,
      policyId,
    })

    const later = new Date(start.getTime() + 5000)
    await claimJob(db, 'next', 1000, later, (gone) =>
      raiseGaveUp({ db, config: deps.config }, gone),
    )

    const [notice] = await db.select().from(notifications).where(eq(notifications.tenantId, t.id))
    expect(notice).toMatchObject({ event: 'backup.failed', recipient: 'owner@example.com' })
    expect(notice!.subject).toContain('Nightly')
    expect(notice!.body).toContain('stopped during every attempt')
    expect(notice!.body).toContain(`/backups/runs/${run.id}`)
  })
})
