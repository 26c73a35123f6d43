import { describe, expect, it, vi } from 'vitest'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy, runningBackup } from '../support/tenants.ts'
import { completeJob } from '../../src/db/jobs.ts'
import { finishRun, finishStage, startStage } from '../../src/db/runs.ts'

/**
 * A backup that ends while the Overview or its run page is being put together. Each page reads
 * the result and whether anything is still running at two moments; a job ending between them
 * once left a row that was neither green nor polling, until the tenant reloaded (seen in CI, on
 * PostgreSQL, where each read takes longer). `finishBefore` ends the job just before the page
 * reads the tenant's jobs, the worst moment for the old order.
 */
const race = vi.hoisted(() => ({ finishBefore: null as null | (() => Promise<void>) }))

vi.mock('../../src/db/jobs.ts', async (load) => {
  const real = await load<typeof import('../../src/db/jobs.ts')>()
  const once = async () => {
    const finish = race.finishBefore
    race.finishBefore = null
    await finish?.()
  }
  return {
    ...real,
    activeJobs: async (...args: Parameters<typeof real.activeJobs>) => {
      await once()
      return real.activeJobs(...args)
    },
    getJob: async (...args: Parameters<typeof real.getJob>) => {
      await once()
      return real.getJob(...args)
    },
  }
})

describe('a backup that ends while its page is read', async () => {
  const deps = freshDeps()
  const { db } = deps
  const tenant = await addTenant(deps, 'rita')
  const dest = (await localDestination(deps, tenant.id, 'nightly', 'Offsite')).id
  const site = await policy(deps, tenant.id, [dest], { name: 'Site' })
  const client = new Client(deps)
  await client.login('rita')

  /** Back up now, claimed by a runner, its snapshot stage started; `end` finishes it green. */
  async function running() {
    const { job, run } = await runningBackup(deps, tenant.id, site, 'Site')
    const stage = await startStage(db, run.id, 'snapshot', dest)
    const end = async () => {
      await finishStage(db, stage.id, 'success', { bytes: 4096, message: null })
      await finishRun(db, run.id, 'success', { error: null })
      expect(await completeJob(db, job.id, 'test-runner')).toBe(true)
    }
    return { run, end }
  }

  it('Overview: the row shows the green result', async () => {
    const { end } = await running()
    race.finishBefore = end
    const page = (await client.get('/backups')).body
    expect(race.finishBefore, 'the job ended during the request').toBeNull()
    const row = page.split('<tr').find((r) => r.includes('>Site<'))!
    // Before the fix: not green, and no poll to make it green.
    expect(row).toContain('Healthy')
  })

  it('run page: shows how the run ended, not “Running” with nothing polling', async () => {
    const { run, end } = await running()
    race.finishBefore = end
    const page = (await client.get(`/backups/runs/${run.id}`)).body
    expect(race.finishBefore, 'the job ended during the request').toBeNull()
    expect(page).not.toContain(`hx-get="/backups/runs/${run.id}/live"`)
    expect(page).toContain('badge badge-ok')
    expect(page).not.toContain('<span class="badge">Running</span>')
  })
})
