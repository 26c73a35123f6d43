import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { Client, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
  backUpOnce,
} from '../support/tenants.ts'
import { activeJobs, type Job } from '../../src/db/jobs.ts'
import { catalogOf, catalogSyncedAt, dropOldIndexes } from '../../src/db/snapshots.ts'
import { findRepository } from '../../src/db/repositories.ts'
import { repositories } from '../../src/db/schema.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { CHECKING, READING } from '../../views/restore-wait.tsx'

const FILES = {
  'site/index.html': '<h1>hi</h1>\n',
  'site/css/app.css': 'body{}\n',
  'notes.txt': 'n\n',
}

/**
 * Tenant pages never run restic: a stale catalog, an unknown backup id and a backup without a
 * file index each queue one job for the runner, and the page says what it is waiting for.
 * The repository is moved away while pages render, so a page that ran restic would fail.
 */
describe.runIf(rootAvailable())('Restore pages wait on jobs, not on restic', () => {
  const deps = freshDeps()
  const a = new Client(deps)
  let t: Awaited<ReturnType<typeof realTenant>>
  let destId = 0
  let base = ''
  let repoDir = ''
  const catalogJobs = async () =>
    (await activeJobs(deps.db, t.tenant.id)).filter(
      (j) => j.kind === 'sync-snapshots' || j.kind === 'index-snapshot',
    )
  /** Runs the queued jobs of the tenant on a runner, then stops it. */
  async function runJobs(queued: Job[], status: 'done' | 'failed' = 'done') {
    const runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 50,
      onError: () => {},
    })
    try {
      for (const job of queued) {
        const done = await waitJob(deps, t.tenant.id, job.id, 60_000)
        expect(done.status, done.lastError ?? '').toBe(status)
      }
    } finally {
      await runner.stop()
    }
  }
  /** Moves the repository away while `fn` runs: restic could not read it. */
  async function withoutRepository<T>(fn: () => Promise<T>): Promise<T> {
    renameSync(repoDir, `${repoDir}.away`)
    try {
      return await fn()
    } finally {
      renameSync(`${repoDir}.away`, repoDir)
    }
  }

  beforeAll(async () => {
    t = await realTenant(deps, 'carol', FILES)
    const dest = await localDestination(deps, t.tenant.id)
    destId = dest.id
    const done = await backUpOnce(deps, t.tenant.id, await policy(deps, t.tenant.id, [dest.id]))
    expect(done.status, done.lastError ?? '').toBe('done')
    const [snap] = await catalogOf(deps.db, t.tenant.id, destId)
    base = `/backups/restore/${destId}/${snap!.snapshotId}`
    const root = deps.config.localRoot
    repoDir = readdirSync(root, { recursive: true, encoding: 'utf8' })
      .map((p) => join(root, p))
      .find((p) => existsSync(join(p, 'config')) && existsSync(join(p, 'snapshots')))!
    expect(repoDir).toBeTruthy()
    await a.login('carol')
  }, 180_000)

  afterAll(() => removeUsers())

  it('lists a never-synced catalog as it is, queues one look at the destination and says so', async () => {
    const repo = (await findRepository(deps.db, t.tenant.id, destId))!
    // The backup's retention listed the repository and found the catalog complete...
    expect(await catalogSyncedAt(deps.db, repo.id)).not.toBeNull()
    // ...but a repository made elsewhere (or by an older panel) was never synced.
    await deps.db
      .update(repositories)
      .set({ snapshotsSyncedAt: null })
      .where(eq(repositories.id, repo.id))
    const [first, second] = await withoutRepository(async () => [
      await a.get('/backups/restore'),
      await a.get('/backups/restore'),
    ])
    for (const res of [first!, second!]) {
      expect(res.status).toBe(200)
      expect(res.body).toContain(`href="${base}"`)
      expect(res.body).toContain(CHECKING)
      expect(res.body).toContain(`hx-get="/backups/restore/${destId}/checking"`)
      expect(res.body).toContain('Check again')
    }
    const queued = await catalogJobs()
    expect(queued.map((j) => [j.kind, j.payload])).toEqual([
      ['sync-snapshots', { destinationId: destId, trigger: 'manual' }],
    ])
    // The Overview does not list it among the tenant's backups and restores.
    expect((await a.get('/backups')).body).not.toContain('backups made elsewhere')
    const poll = await a.get(`/backups/restore/${destId}/checking`, { 'hx-request': 'true' })
    expect(poll.body).toContain(CHECKING)
    expect(poll.headers.get('hx-refresh')).toBeNull()

    await runJobs(queued)
    expect(await catalogSyncedAt(deps.db, repo.id)).not.toBeNull()
    const done = await a.get(`/backups/restore/${destId}/checking`, { 'hx-request': 'true' })
    expect(done.headers.get('hx-refresh')).toBe('true')
    const after = await withoutRepository(() => a.get('/backups/restore'))
    expect(after.body).toContain(`href="${base}"`)
    expect(after.body).not.toContain(CHECKING)
    expect(await catalogJobs()).toEqual([])
  })

  it('answers an unknown backup id with “not found yet” and a look, then a plain 404', async () => {
    const unknown = `/backups/restore/${destId}/${'ab'.repeat(32)}`
    // A catalog synced just now: an unknown id is simply not there.
    expect((await a.get(unknown)).status).toBe(404)
    expect(await catalogJobs()).toEqual([])
    const repo = (await findRepository(deps.db, t.tenant.id, destId))!
    await deps.db
      .update(repositories)
      .set({ snapshotsSyncedAt: null })
      .where(eq(repositories.id, repo.id))
    const res = await withoutRepository(() => a.get(unknown))
    expect(res.status).toBe(404)
    expect(res.body).toContain('not found yet')
    expect(res.body).toContain(CHECKING)
    const queued = await catalogJobs()
    expect(queued.map((j) => j.kind)).toEqual(['sync-snapshots'])
    await runJobs(queued)
    const again = await a.get(unknown)
    expect(again.status).toBe(404)
    expect(again.body).not.toContain(CHECKING)
    expect(await catalogJobs()).toEqual([])
  })

  it('shows “reading the list of files” for a backup without an index, then the tree once the job ran', async () => {
    await dropOldIndexes(deps.db, t.tenant.id, 0)
    const dir = `${base}?dir=${encodeURIComponent(`${t.home}/site`)}`
    const [page, folder, again] = await withoutRepository(async () => [
      await a.get(dir),
      await a.get(dir, { 'hx-request': 'true' }),
      await a.get(base),
    ])
    for (const res of [page!, again!]) {
      expect(res.status).toBe(200)
      expect(res.body).toContain(READING)
      expect(res.body).toContain('<progress class="progress"')
      expect(res.body).toContain(`hx-get="${base}/reading"`)
      expect(res.body).not.toContain('index.html')
    }
    expect(folder!.body).toContain(READING)
    expect(folder!.body).not.toContain('<html')
    const queued = await catalogJobs()
    expect(queued.map((j) => [j.kind, j.payload])).toEqual([
      [
        'index-snapshot',
        { destinationId: destId, snapshot: base.split('/').pop(), trigger: 'manual' },
      ],
    ])
    const poll = await a.get(`${base}/reading`, { 'hx-request': 'true' })
    expect(poll.body).toContain(READING)
    expect(poll.headers.get('hx-refresh')).toBeNull()

    await runJobs(queued)
    const done = await a.get(`${base}/reading`, { 'hx-request': 'true' })
    expect(done.headers.get('hx-refresh')).toBe('true')
    const [tree, fragment] = await withoutRepository(async () => [
      await a.get(dir),
      await a.get(dir, { 'hx-request': 'true' }),
    ])
    expect(tree!.status).toBe(200)
    expect(tree!.body).not.toContain(READING)
    expect(tree!.body).toContain('index.html')
    expect(fragment!.body).toContain('index.html')
    expect(fragment!.body).toContain('css')
    expect(await catalogJobs()).toEqual([])
  })

  it('says when the destination could not be checked, and does not ask again at once', async () => {
    const repo = (await findRepository(deps.db, t.tenant.id, destId))!
    await deps.db
      .update(repositories)
      .set({ snapshotsSyncedAt: null })
      .where(eq(repositories.id, repo.id))
    await withoutRepository(async () => {
      expect((await a.get('/backups/restore')).body).toContain(CHECKING)
      await runJobs(await catalogJobs(), 'failed')
      const poll = await a.get(`/backups/restore/${destId}/checking`, { 'hx-request': 'true' })
      expect(poll.headers.get('hx-refresh')).toBe('true')
      const res = await a.get('/backups/restore')
      expect(res.status).toBe(200)
      expect(res.body).toContain('Could not check the destination for backups made elsewhere')
      expect(res.body).not.toContain(CHECKING)
      expect(res.body).toContain(`href="${base}"`)
      expect(await catalogJobs()).toEqual([])
    })
  }, 120_000)
})
