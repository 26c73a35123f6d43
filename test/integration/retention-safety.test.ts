import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
import { requireMariaDb, startMariaDb, type MariaDbServer } from '../services/mariadb.ts'
import { freePort } from '../services/process.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listRuns, runStagesOf } from '../../src/db/runs.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { getPolicy } from '../../src/db/policies.ts'
import { jobs, tenantDatabases, tenants, type Destination } from '../../src/db/schema.ts'
import { getTenant } from '../../src/db/tenants.ts'
import { catalogOf, latestComplete } from '../../src/db/snapshots.ts'
import { listSnapshots, withRepository } from '../../src/engine/restic/snapshots.ts'
import { runRestic } from '../../src/engine/restic/restic.ts'
import { retention } from '../../src/engine/jobs/retention.ts'
import { createRun } from '../../src/db/runs.ts'
import { savePolicy, newPolicyInput } from '../../src/domain/policies.ts'

/**
 * Retention must never lose the last good copy: it runs only after a run whose every stage
 * succeeded, it never forgets the newest snapshot holding each database's dump, its days are the
 * tenant's, and safety snapshots go after their own 14 days.
 */
describe.runIf(rootAvailable() && requireMariaDb())(
  'retention keeps the last good copy (real restic and MariaDB)',
  () => {
    const deps = freshDeps()
    let maria: MariaDbServer
    let runner: Runner
    let t: Awaited<ReturnType<typeof realTenant>>
    let dbId = 0
    let destId = 0
    let policyId = 0

    beforeAll(async () => {
      maria = await startMariaDb()
      await maria.createDatabase('shop', 'shopuser', 'maria pw')
      await maria.sql(
        'CREATE TABLE orders (id INT PRIMARY KEY); INSERT INTO orders VALUES (1),(2);',
        'shop',
      )
      t = await realTenant(deps, 'keeper', { 'public_html/index.php': '<?php echo 1;\n' })
      dbId = (
        await assignDatabase(deps.db, deps.config.secretKey, t.tenant.id, {
          engine: 'mariadb',
          name: 'shop',
          host: '127.0.0.1',
          port: String(maria.port),
          username: 'shopuser',
          password: 'maria pw',
        })
      ).id
      destId = (await localDestination(deps, t.tenant.id)).id
      // Keep only the newest snapshot: anything older is what retention would delete.
      policyId = await policy(deps, t.tenant.id, [destId], {
        databaseIds: [dbId],
        keepLast: '1',
        keepDaily: '0',
        keepWeekly: '0',
        keepMonthly: '0',
        keepYearly: '0',
      })
      runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
    }, 120_000)
    afterAll(async () => {
      await runner?.stop()
      await maria?.stop()
      removeUsers()
    })

    const backup = async () => {
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      // One attempt per run: each failed attempt stands for a failed night.
      await deps.db.update(jobs).set({ maxAttempts: 1 }).where(eq(jobs.id, job.id))
      runner.wake()
      await waitJob(deps, t.tenant.id, job.id)
      return (await listRuns(deps.db, t.tenant.id)).find((r) => r.jobId === job.id)!
    }
    const dest = (): Promise<Destination> => getDestination(deps.db, t.tenant.id, destId)

    it(
      'a failed dump keeps every older snapshot: the only copy of the database survives a week of failures',
      { timeout: 90_000 },
      async () => {
        const good = await backup()
        expect(good.status).toBe('success')
        const [first] = await listSnapshots(deps, t.tenant, await dest())
        expect(first!.databases).toEqual(['mariadb-shop'])

        // The database server is "down": its port points nowhere.
        const closed = await freePort()
        await deps.db
          .update(tenantDatabases)
          .set({ port: closed })
          .where(eq(tenantDatabases.id, dbId))
        try {
          for (let day = 0; day < 3; day++) {
            const run = await backup()
            expect(run.status).toBe('failed')
            const stages = Object.fromEntries(
              (await runStagesOf(deps.db, run.id)).map((s) => [s.name, s.status]),
            )
            expect(stages).toMatchObject({
              'dump:shop': 'failed',
              snapshot: 'success',
              retention: 'skipped',
            })
          }
        } finally {
          await deps.db
            .update(tenantDatabases)
            .set({ port: maria.port })
            .where(eq(tenantDatabases.id, dbId))
        }
        const all = await listSnapshots(deps, t.tenant, await dest())
        expect(all).toHaveLength(4)
        // Each in its own second, even a run that took under one: "keep the last" never guesses.
        expect(new Set(all.map((s) => s.time)).size).toBe(4)
        // The first snapshot (the only one with the dump) is still there, and it is what `latest` means.
        expect(all.map((s) => s.id)).toContain(first!.id)
        expect(all.filter((s) => s.databases.includes('mariadb-shop')).map((s) => s.id)).toEqual([
          first!.id,
        ])
        expect(latestComplete(await catalogOf(deps.db, t.tenant.id, destId))!.snapshotId).toBe(
          first!.id,
        )
        expect(all.filter((s) => s.tags.includes('incomplete'))).toHaveLength(3)
      },
    )

    it('after the database is back, a good run applies retention again and keeps only its own snapshot', async () => {
      const run = await backup()
      expect(run.status).toBe('success')
      const all = await listSnapshots(deps, t.tenant, await dest())
      expect(all).toHaveLength(1)
      expect(all[0]!.databases).toEqual(['mariadb-shop'])
      expect(all[0]!.complete).toBe(true)
    })

    it('independently of the run, never forgets the newest snapshot that holds a database dump', async () => {
      const d = await dest()
      const pol = await getPolicy(deps.db, t.tenant.id, policyId)
      const run = await createRun(deps.db, t.tenant.id, {
        kind: 'backup',
        trigger: 'manual',
        jobId: null,
        policyId,
      })
      await withRepository(deps, t.tenant, d, async (repo) => {
        // Two newer snapshots of the policy without the dump (e.g. the database was left out).
        for (let i = 0; i < 2; i++) {
          await runRestic(
            [
              'backup',
              '--host',
              t.tenant.name,
              '--tag',
              `policy:${policyId}`,
              '--',
              `${t.home}/public_html`,
            ],
            repo.env,
          )
        }
        await retention(
          deps,
          { policy: pol, dest: d, runId: run.id, signal: new AbortController().signal },
          repo,
        )
      })
      const left = await listSnapshots(deps, t.tenant, d)
      // keep-last 1 keeps the newest; the older one with the dump is spared; the middle one goes.
      expect(left).toHaveLength(2)
      expect(left.filter((s) => s.databases.includes('mariadb-shop'))).toHaveLength(1)
      const stage = (await runStagesOf(deps.db, run.id)).find((s) => s.name === 'retention')!
      expect(stage.message).toContain(
        'Kept 1 older snapshot(s) because each holds the newest copy of a database.',
      )
    })

    it('counts days in the tenant’s time zone', async () => {
      // The same two instants, 23:30 and 00:30 UTC: two days in UTC, one day (00:30 and 01:30) in
      // Berlin. restic takes each snapshot's day from the zone it ran in: the tenant's.
      const kept = async (name: string, timezone: string, times: string[]) => {
        const other = await realTenant(deps, name, { 'a.txt': 'a' })
        await deps.db.update(tenants).set({ timezone }).where(eq(tenants.id, other.tenant.id))
        const tenant = await getTenant(deps.db, other.tenant.id)
        const d = await localDestination(deps, tenant.id)
        const pid = await savePolicy(deps.db, tenant.id, null, {
          ...newPolicyInput(timezone),
          name: 'Daily',
          destinationIds: [d.id],
          keepLast: '0',
          keepDaily: '5',
          keepWeekly: '0',
          keepMonthly: '0',
          keepYearly: '0',
        })
        const run = await createRun(deps.db, tenant.id, {
          kind: 'backup',
          trigger: 'manual',
          jobId: null,
          policyId: pid,
        })
        await withRepository(
          deps,
          tenant,
          d,
          async (repo) => {
            for (const time of times) {
              await runRestic(
                [
                  'backup',
                  '--host',
                  name,
                  '--time',
                  time,
                  '--tag',
                  `policy:${pid}`,
                  '--',
                  other.home,
                ],
                repo.env,
              )
            }
            const scope = {
              policy: await getPolicy(deps.db, tenant.id, pid),
              dest: d,
              runId: run.id,
              signal: new AbortController().signal,
            }
            await retention(deps, scope, repo)
          },
          undefined,
          { create: true },
        )
        return (await listSnapshots(deps, tenant, d)).map((s) => s.time)
      }
      expect(await kept('utcday', 'UTC', ['2026-01-01 23:30:00', '2026-01-02 00:30:00'])).toEqual([
        '2026-01-02T00:30:00.000Z',
        '2026-01-01T23:30:00.000Z',
      ])
      expect(
        await kept('berlinday', 'Europe/Berlin', ['2026-01-02 00:30:00', '2026-01-02 01:30:00']),
      ).toEqual(['2026-01-02T00:30:00.000Z'])
    })

    it('forgets safety snapshots after 14 days, and only those', async () => {
      const d = await dest()
      const pol = await getPolicy(deps.db, t.tenant.id, policyId)
      const run = await createRun(deps.db, t.tenant.id, {
        kind: 'backup',
        trigger: 'manual',
        jobId: null,
        policyId,
      })
      const old = new Date(Date.now() - 20 * 86_400_000)
        .toISOString()
        .slice(0, 19)
        .replace('T', ' ')
      const recent = new Date(Date.now() - 2 * 86_400_000)
        .toISOString()
        .slice(0, 19)
        .replace('T', ' ')
      await withRepository(deps, t.tenant, d, async (repo) => {
        for (const time of [old, recent]) {
          await runRestic(
            [
              'backup',
              '--host',
              t.tenant.name,
              '--time',
              time,
              '--tag',
              'safety',
              '--',
              `${t.home}/public_html`,
            ],
            { ...repo.env, timezone: 'UTC' },
          )
        }
      })
      const before = await listSnapshots(deps, t.tenant, d)
      expect(before.filter((s) => s.kind === 'safety')).toHaveLength(2)
      await withRepository(deps, t.tenant, d, (repo) =>
        retention(
          deps,
          { policy: pol, dest: d, runId: run.id, signal: new AbortController().signal },
          repo,
        ),
      )
      const after = await listSnapshots(deps, t.tenant, d)
      const safety = after.filter((s) => s.kind === 'safety')
      expect(safety).toHaveLength(1)
      expect(safety[0]!.time.slice(0, 10)).toBe(recent.slice(0, 10))
      expect(after.filter((s) => s.kind === 'policy')).toHaveLength(
        before.filter((s) => s.kind === 'policy').length,
      )
    })
  },
)
