import { afterAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { desc, eq } from 'drizzle-orm'
import { freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { runs } from '../../src/db/schema.ts'
import { setRunnerSetting } from '../../src/db/jobs.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'

describe.runIf(rootAvailable())('a runner killed mid-backup', () => {
  const deps = freshDeps()
  const children: ChildProcess[] = []
  const runner = () => {
    const child = spawn('node', ['src/bin.js', 'runner'], {
      detached: true, // its own process group, so SIGKILL takes its restic child too
      stdio: 'ignore',
      env: {
        ...process.env,
        PANEL_DATA_DIR: deps.config.dataDir,
        PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
        PANEL_LEASE_MS: '3000',
      },
    })
    children.push(child)
    return child
  }
  afterAll(() => {
    for (const c of children)
      if (c.exitCode === null)
        try {
          process.kill(-c.pid!, 'SIGKILL')
        } catch {}
    removeUsers()
  })

  it('is picked up again after the lease expires; history shows the interruption; restic check passes', async () => {
    const files: Record<string, Buffer> = {}
    for (let i = 0; i < 12; i++) files[`media/file-${i}.bin`] = randomBytes(4_000_000)
    // 48 MB at the admin's upload limit of 8 MiB/s takes ~6 s: long enough to kill it mid-way
    await setRunnerSetting(deps.db, 'uploadLimit', '8192')
    const { tenant } = await realTenant(deps, 'crash', files)
    const dest = await localDestination(deps, tenant.id)
    const policyId = await policy(deps, tenant.id, [dest.id])
    const { job } = await requestBackup(deps.db, tenant.id, policyId, 'manual')
    const first = runner()
    const end = Date.now() + 30_000
    for (;;) {
      const run = (await deps.db.select().from(runs).where(eq(runs.jobId, job.id)))[0]
      if (run?.progress && Number((run.progress as any).bytesDone) > 0) break
      if (Date.now() > end) throw new Error('the backup never showed progress')
      await new Promise((r) => setTimeout(r, 50))
    }
    process.kill(-first.pid!, 'SIGKILL')
    runner()
    const done = await waitJob(deps, tenant.id, job.id, 90_000)
    expect(done.status).toBe('done')
    const history = await deps.db.select().from(runs).where(eq(runs.jobId, job.id)).orderBy(runs.id)
    expect(history.map((r) => r.status)).toEqual(['interrupted', 'success'])
    expect(history[0]!.error).toMatch(/runner stopped during this run/)
    const { results } = await runVerify(deps, tenant, { subset: '100%' })
    expect(results).toEqual([expect.objectContaining({ ok: true })])
    void desc
  }, 150_000)
})
