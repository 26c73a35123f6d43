import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { shopAndBlog } from '../support/databases.ts'
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
import { requirePostgres, startPostgres, type PostgresServer } from '../services/postgres.ts'
import { requestBackup, requestRestore } from '../../src/domain/jobs.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listRuns, runStagesOf } from '../../src/db/runs.ts'
import { listDir, listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { getDestination } from '../../src/db/destinations.ts'

describe.runIf(rootAvailable() && requireMariaDb() && requirePostgres())(
  'databases in backups (real MariaDB and PostgreSQL)',
  () => {
    const deps = freshDeps()
    let maria: MariaDbServer
    let pg: PostgresServer
    let runner: Runner
    let t: Awaited<ReturnType<typeof realTenant>>
    const ids: Record<string, number> = {}
    let destId = 0

    beforeAll(async () => {
      ;[maria, pg] = await Promise.all([startMariaDb(), startPostgres()])
      t = await realTenant(deps, 'dbs', { 'public_html/index.php': '<?php echo 1;\n' })
      Object.assign(ids, await shopAndBlog(deps, t.tenant.id, maria, pg))
      destId = (await localDestination(deps, t.tenant.id)).id
      await policy(deps, t.tenant.id, [destId], { databaseIds: [ids.shop!, ids.blog!] })
      runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
    }, 120_000)
    afterAll(async () => {
      await runner?.stop()
      await Promise.all([maria?.stop(), pg?.stop()])
      removeUsers()
    })

    it('dumps both databases into the same snapshot as the files', async () => {
      const policyId = (await deps.db.query.policies.findFirst())!.id
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      runner.wake()
      expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
      const [run] = await listRuns(deps.db, t.tenant.id)
      expect(run!.status).toBe('success')
      const stages = (await runStagesOf(deps.db, run!.id)).map((s) => [s.name, s.status])
      expect(stages).toEqual([
        ['dump:blog', 'success'],
        ['dump:shop', 'success'],
        ['snapshot', 'success'],
        ['retention', 'success'],
      ])
      const dest = await getDestination(deps.db, t.tenant.id, destId)
      const [snap] = await listSnapshots(deps, t.tenant, dest)
      expect(snap!.paths).toContain(t.home)
      const dumpsDir = snap!.paths.find((p) => p.endsWith('/dumps'))!
      const names = (await listDir(deps, t.tenant, dest, snap!.id, dumpsDir)).map((n) => n.name)
      expect(names).toEqual(['mariadb-shop.sql', 'panel-settings.json', 'postgresql-blog.sql'])
    })

    it('restores a MariaDB database in place after a safety snapshot', async () => {
      const dest = await getDestination(deps.db, t.tenant.id, destId)
      const [snap] = await listSnapshots(deps, t.tenant, dest)
      await maria.sql('DELETE FROM orders WHERE id = 2', 'shop')
      const job = await requestRestore(deps.db, t.tenant.id, {
        destinationId: destId,
        snapshot: snap!.id,
        paths: [],
        databaseId: ids.shop,
        mode: 'inplace',
      })
      runner.wake()
      expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
      expect((await maria.sql('SELECT id, note FROM orders ORDER BY id', 'shop')).trim()).toBe(
        '1\tfirst\n2\tsecond',
      )
      const after = await listSnapshots(deps, t.tenant, dest)
      expect(after.some((s) => s.tags.includes('safety'))).toBe(true)
    })

    it('restores a PostgreSQL database under a new name, leaving the original alone', async () => {
      await pg.sql('ALTER USER bloguser CREATEDB')
      const dest = await getDestination(deps.db, t.tenant.id, destId)
      const snap = (await listSnapshots(deps, t.tenant, dest)).find(
        (s) => !s.tags.includes('safety'),
      )!
      await pg.sql("UPDATE posts SET title = 'changed' WHERE id = 1", 'blog')
      const job = await requestRestore(deps.db, t.tenant.id, {
        destinationId: destId,
        snapshot: snap.id,
        paths: [],
        databaseId: ids.blog,
        mode: 'copy',
        newName: 'blog_copy',
      })
      runner.wake()
      const done = await waitJob(deps, t.tenant.id, job.id)
      expect(done.status, done.lastError ?? '').toBe('done')
      expect(
        (await pg.sql('SELECT title FROM posts ORDER BY id', 'blog_copy')).trim().split('\n'),
      ).toEqual(['hello', 'world', 'again'])
      expect((await pg.sql('SELECT title FROM posts WHERE id = 1', 'blog')).trim()).toBe('changed')
    })
  },
)
