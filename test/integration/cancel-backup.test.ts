import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
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
} from '../support/tenants.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { activeJobs, setRunnerSetting } from '../../src/db/jobs.ts'
import { latestRunOfJob, runLogsOf, runStagesOf } from '../../src/db/runs.ts'
import { jobs } from '../../src/db/schema.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'

/** restic processes started by this test process (its children's children included). */
function resticProcesses(): number[] {
  const parent = new Map<number, number>()
  const comm = new Map<number, string>()
  for (const d of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const end = stat.lastIndexOf(')')
      comm.set(Number(d), stat.slice(stat.indexOf('(') + 1, end))
      parent.set(Number(d), Number(stat.slice(end + 2).split(' ')[1]))
    } catch {
      // exited meanwhile
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p; p = parent.get(p)) if (p === process.pid) return true
    return false
  }
  return [...comm].filter(([pid, c]) => c === 'restic' && mine(pid)).map(([pid]) => pid)
}

async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 30_000,
) {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The repositories under `root` (folders holding restic's `config`) and their lock files. */
function locksUnder(root: string): { repos: string[]; locks: string[] } {
  const repos: string[] = []
  const locks: string[] = []
  const walk = (dir: string) => {
    if (existsSync(join(dir, 'config')) && existsSync(join(dir, 'keys'))) {
      repos.push(dir)
      const folder = join(dir, 'locks')
      if (existsSync(folder)) locks.push(...readdirSync(folder).map((f) => join(folder, f)))
      return
    }
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(dir, e.name))
  }
  if (existsSync(root)) walk(root)
  return { repos, locks }
}

describe.runIf(rootAvailable())('a tenant cancels its running backup (real restic)', () => {
  const deps = freshDeps()
  let runner: Runner
  let tenant: Awaited<ReturnType<typeof realTenant>>

  beforeAll(async () => {
    // 48 MiB that does not compress, sent at 1 MiB/s: the backup runs for most of a minute.
    tenant = await realTenant(deps, 'erin', { 'media/video.bin': randomBytes(48 << 20) })
    await setRunnerSetting(deps.db, 'uploadLimit', '1024')
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
  })
  afterAll(async () => {
    await runner?.stop()
    removeUsers()
  })

  it('stops restic within seconds, leaves no lock, ends “Cancelled by you” and is not retried', async () => {
    const dest = await localDestination(deps, tenant.tenant.id, 'nightly', 'On this server')
    const id = await policy(deps, tenant.tenant.id, [dest.id], { name: 'Media' })
    const { job } = await requestBackup(deps.db, tenant.tenant.id, id, 'manual')
    runner.wake()
    // Wait until restic has read the file and is sending it, slowly.
    const run = await until('the upload', async () => {
      const r = await latestRunOfJob(deps.db, tenant.tenant.id, job.id)
      return r?.progress?.phase === 'finishing' && Number(r.progress.sent) > 0 && r
    })
    expect(resticProcesses().length).toBe(1)
    expect(locksUnder(deps.config.localRoot).locks).toHaveLength(1) // restic's, while it runs
    const page = new Client(deps)
    await page.login('erin')
    const overview = (await page.get('/backups')).body
    // Not restic's "100%": what has really reached the destination, and no made-up share.
    expect(overview).toMatch(
      /Uploading to On this server: [\d.]+ (KiB|MiB) sent so far at [\d.]+ (KiB|MiB)\/s; all 48 MiB of files read/,
    )
    expect(overview).not.toMatch(/\d+%/)

    const started = Date.now()
    const res = await page.post(`/backups/jobs/${job.id}/cancel`, { confirm: 'yes' })
    expect(res.status).toBe(303)
    const done = await waitJob(deps, tenant.tenant.id, job.id, 20_000)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(done).toMatchObject({ status: 'failed', lastError: 'Cancelled by you.', attempts: 1 })
    await until('restic to be gone', () => resticProcesses().length === 0, 15_000)
    const { repos, locks } = locksUnder(deps.config.localRoot)
    expect(repos).toHaveLength(1)
    expect(locks).toEqual([])

    const ended = (await latestRunOfJob(deps.db, tenant.tenant.id, job.id))!
    expect(ended).toMatchObject({ id: run.id, status: 'cancelled', error: 'Cancelled by you.' })
    expect(ended.progress).toBeNull()
    expect((await runLogsOf(deps.db, run.id)).map((l) => l.message)).toContain('Cancelled by you.')
    expect((await runStagesOf(deps.db, run.id)).every((s) => s.status !== 'running')).toBe(true)
    // Not retried: nothing queued or running for the tenant a while later.
    await new Promise((r) => setTimeout(r, 1500))
    expect(await activeJobs(deps.db, tenant.tenant.id)).toEqual([])
    expect((await deps.db.select().from(jobs).where(eq(jobs.id, job.id)))[0]!.status).toBe('failed')

    const after = (await page.get(`/backups/runs/${run.id}`)).body
    expect(after).toContain('Backup run #1')
    expect(after).toContain('Cancelled by you.')
    expect(after).toContain('<span class="badge badge-muted">Cancelled</span>')

    // The repository is fine: the next backup succeeds.
    await setRunnerSetting(deps.db, 'uploadLimit', '0')
    const next = (await requestBackup(deps.db, tenant.tenant.id, id, 'manual')).job
    runner.wake()
    expect((await waitJob(deps, tenant.tenant.id, next.id, 60_000)).status).toBe('done')
  }, 120_000)
})
