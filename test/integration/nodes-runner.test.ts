import { afterAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
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
import { requestBackup } from '../../src/domain/jobs.ts'
import { editTenant } from '../../src/domain/tenants.ts'
import { getJob } from '../../src/db/jobs.ts'
import { findRepository, repositoryPassword } from '../../src/db/repositories.ts'
import { runs, type Tenant } from '../../src/db/schema.ts'
import { listHeartbeats } from '../../src/db/runner-heartbeats.ts'

/** Issue 14: a runner per hosting node runs only the jobs of the tenants that live there. */
describe.runIf(rootAvailable())('two runners on two nodes', () => {
  const deps = freshDeps()
  const children: ChildProcess[] = []
  const runner = (node: string) => {
    const child = spawn('node', ['src/bin.js', 'runner', '--node', node], {
      detached: true,
      stdio: 'ignore',
      env: {
        ...process.env,
        PANEL_DATA_DIR: deps.config.dataDir,
        PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
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

  /** The snapshots of the tenant's Local repository, as stock restic lists them. */
  const snapshotsOf = async (tenant: Tenant, destId: number) => {
    const repo = (await findRepository(deps.db, tenant.id, destId))!
    const res = spawnSync(
      'restic',
      ['-r', join(deps.config.localRoot, tenant.name, 'repo'), '--no-cache', 'snapshots', '--json'],
      {
        env: { ...process.env, RESTIC_PASSWORD: repositoryPassword(deps.config.secretKey, repo) },
        encoding: 'utf8',
      },
    )
    expect(res.status, res.stderr).toBe(0)
    return JSON.parse(res.stdout) as { username: string; uid: number }[]
  }

  it("backs each tenant up on its own node only, as the tenant's system user", async () => {
    const a = await realTenant(deps, 'ontheone', { 'site/index.html': 'one' })
    const b = await realTenant(deps, 'ontheother', { 'site/index.html': 'other' })
    for (const [t, node] of [
      [a, 'web1'],
      [b, 'web2'],
    ] as const) {
      const { tenant } = t
      await editTenant(deps.db, tenant.id, {
        name: tenant.name,
        password: '',
        homeDir: tenant.homeDir,
        systemUser: t.user,
        timezone: tenant.timezone,
        node,
      })
    }
    const destA = await localDestination(deps, a.tenant.id)
    const destB = await localDestination(deps, b.tenant.id)
    const jobA = (
      await requestBackup(
        deps.db,
        a.tenant.id,
        await policy(deps, a.tenant.id, [destA.id]),
        'manual',
      )
    ).job
    const jobB = (
      await requestBackup(
        deps.db,
        b.tenant.id,
        await policy(deps, b.tenant.id, [destB.id]),
        'manual',
      )
    ).job

    // Only web1's runner runs: the tenant on web2 waits, however long.
    runner('web1')
    expect((await waitJob(deps, a.tenant.id, jobA.id, 60_000)).status).toBe('done')
    await sleep(2500)
    expect((await getJob(deps.db, b.tenant.id, jobB.id)).status).toBe('queued')

    runner('web2')
    expect((await waitJob(deps, b.tenant.id, jobB.id, 60_000)).status).toBe('done')

    const runOf = async (jobId: number) =>
      (await deps.db.select().from(runs).where(eq(runs.jobId, jobId)))[0]!
    expect(await runOf(jobA.id)).toMatchObject({ status: 'success', node: 'web1' })
    expect(await runOf(jobB.id)).toMatchObject({ status: 'success', node: 'web2' })
    expect((await getJob(deps.db, a.tenant.id, jobA.id)).node).toBe('web1')
    expect((await getJob(deps.db, b.tenant.id, jobB.id)).node).toBe('web2')

    // restic ran as each tenant's own user: the snapshot records who made it.
    const [snapA] = await snapshotsOf(a.tenant, destA.id)
    const [snapB] = await snapshotsOf(b.tenant, destB.id)
    expect(snapA).toMatchObject({ username: a.user, uid: a.uid })
    expect(snapB).toMatchObject({ username: b.user, uid: b.uid })

    // Both runners are on record with their node, for Admin > Runner.
    const beats = await listHeartbeats(deps.db)
    expect(beats.map((r) => r.node).sort()).toEqual(['web1', 'web2'])
  }, 150_000)
})
