import { afterAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { policies } from '../../src/db/schema.ts'
import { tickScheduler } from '../../src/runner/scheduler.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listRuns } from '../../src/db/runs.ts'
import { setAdminSetting } from '../../src/db/settings.ts'

describe.runIf(rootAvailable())('a policy on schedule', () => {
  const deps = freshDeps()
  afterAll(removeUsers)

  it('runs at its cron time through the scheduler and the runner', async () => {
    const { tenant } = await realTenant(deps, 'sched', { 'site/index.html': 'on schedule\n' })
    const dest = await localDestination(deps, tenant.id)
    await setAdminSetting(deps.db, 'minIntervalMinutes', 0) // every minute, below the default hour
    const id = await policy(deps, tenant.id, [dest.id], { preset: 'custom', cron: '* * * * *' })
    const past = new Date(Date.now() - 5 * 60_000)
    await deps.db
      .update(policies)
      .set({ createdAt: past, updatedAt: past })
      .where(eq(policies.id, id))
    expect(await tickScheduler(deps.db)).toMatchObject({ enqueued: 1 })
    expect(await tickScheduler(deps.db)).toMatchObject({ enqueued: 0 })
    const job = (await deps.db.query.jobs.findFirst())!
    expect(job.payload).toMatchObject({ policyId: id, trigger: 'schedule' })
    const runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 200,
      onError: () => {},
    })
    try {
      expect((await waitJob(deps, tenant.id, job.id, 60_000)).status).toBe('done')
    } finally {
      await runner.stop()
    }
    const [run] = await listRuns(deps.db, tenant.id)
    expect(run).toMatchObject({ trigger: 'schedule', status: 'success', policyId: id })
  }, 90_000)
})
