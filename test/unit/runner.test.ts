import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { freshDeps } from '../helpers.ts'
import { jobs, runnerSettings, tenants } from '../../src/db/schema.ts'
import { enqueue, getJob, setRunnerSetting, type Job } from '../../src/db/jobs.ts'
import { JobFailed } from '../../src/errors.ts'
import {
  pauseRunner,
  resumeRunner,
  startRunner,
  type JobHandler,
  type Runner,
  type RunnerOptions,
} from '../../src/runner/runner.ts'

const { db } = freshDeps()
let seq = 0
let runner: Runner | undefined

const tenant = async () => {
  const name = `t${++seq}`
  return (
    await db
      .insert(tenants)
      .values({ name, homeDir: `/home/${name}` })
      .returning()
  )[0].id
}
const add = async (kind: Job['kind'] = 'backup') =>
  (await enqueue(db, { kind, tenantId: await tenant(), payload: {} })).job
const row = (j: Job) => getJob(db, j.tenantId, j.id)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000) {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting')
    await sleep(5)
  }
}

function start(handler: JobHandler, opts: Partial<RunnerOptions> = {}) {
  runner = startRunner({
    db,
    handlers: { backup: handler },
    pollMs: 20,
    onError: () => {},
    ...opts,
  })
  return runner
}

beforeEach(async () => {
  await db.delete(jobs)
  await db.delete(runnerSettings)
})

afterEach(async () => {
  await runner?.stop()
  runner = undefined
})

describe('runner', () => {
  it.each([
    { option: 2, setting: undefined, expected: 2 },
    { option: 2, setting: '3', expected: 3 },
  ])('runs at most $expected jobs at once (option $option, setting $setting)', async (c) => {
    if (c.setting) await setRunnerSetting(db, 'concurrency', c.setting)
    const all: Job[] = []
    for (let i = 0; i < 7; i++) all.push(await add())
    let now = 0
    let max = 0
    start(
      async () => {
        max = Math.max(max, ++now)
        await sleep(40)
        now--
      },
      { concurrency: c.option },
    )
    await waitFor(async () => {
      for (const j of all) if ((await row(j)).status !== 'done') return false
      return true
    })
    expect(max).toBe(c.expected)
  })

  it('retries a transient error with backoff, and keeps going', async () => {
    const j = await add()
    let calls = 0
    const r = start(async () => {
      if (++calls === 1) throw new Error('network blip')
    })
    await waitFor(async () => (await row(j)).attempts === 1 && (await row(j)).status === 'queued')
    const failed = await row(j)
    expect(failed.lastError).toBe('network blip')
    const delay = failed.runAt.getTime() - Date.now()
    expect(delay).toBeGreaterThan(1500)
    expect(delay).toBeLessThanOrEqual(Math.E * 1000)
    await db
      .update(jobs)
      .set({ runAt: new Date(0) })
      .where(eq(jobs.id, j.id))
    r.wake()
    await waitFor(async () => (await row(j)).status === 'done')
    expect(await row(j)).toMatchObject({ attempts: 2, lastError: null })
    expect(calls).toBe(2)
  })

  it.each([
    ['JobFailed(…, true)', new JobFailed('wrong password', true)],
    ['permanent: true', Object.assign(new Error('wrong password'), { permanent: true })],
  ])('does not retry %s', async (_, err) => {
    const j = await add()
    let calls = 0
    start(async () => {
      calls++
      throw err
    })
    await waitFor(async () => (await row(j)).status === 'failed')
    expect(await row(j)).toMatchObject({ attempts: 1, lastError: 'wrong password' })
    await sleep(60)
    expect(calls).toBe(1)
  })

  it('fails a job of a kind it has no handler for, without retry', async () => {
    const j = await add('verify')
    start(async () => {})
    await waitFor(async () => (await row(j)).status === 'failed')
    expect((await row(j)).lastError).toMatch(/no handler for verify/)
  })

  it('claims nothing while paused and continues after resume', async () => {
    await pauseRunner(db)
    const j = await add()
    let calls = 0
    const r = start(async () => void calls++)
    await sleep(100)
    expect(calls).toBe(0)
    expect((await row(j)).status).toBe('queued')
    await resumeRunner(db)
    r.wake()
    await waitFor(async () => (await row(j)).status === 'done')
    expect(calls).toBe(1)
  })

  it('stop() aborts running handlers, waits for them and gives the job back', async () => {
    const j = await add()
    let signal: AbortSignal | undefined
    const r = start((_, ctx) => {
      signal = ctx.signal
      return new Promise((_, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      )
    })
    await waitFor(() => r.running() === 1)
    await r.stop()
    expect(signal?.aborted).toBe(true)
    expect(r.running()).toBe(0)
    expect(await row(j)).toMatchObject({ status: 'queued', attempts: 1, leaseOwner: null })
    expect((await row(j)).lastError).toMatch(/^interrupted/)
  })

  it('stop() gives up on a handler that ignores the signal after stopTimeoutMs', async () => {
    await add()
    const r = start(() => sleep(500), { stopTimeoutMs: 50 })
    await waitFor(() => r.running() === 1)
    const t0 = Date.now()
    await r.stop()
    expect(Date.now() - t0).toBeLessThan(400)
  })

  it('aborts the handler when its lease is lost', async () => {
    const j = await add()
    let reason: unknown
    const r = start(
      (_, ctx) =>
        new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason
            resolve()
          }),
        ),
      { leaseMs: 90, owner: 'me' },
    )
    await waitFor(() => r.running() === 1)
    await db
      .update(jobs)
      .set({ leaseOwner: 'thief', leaseExpiresAt: new Date(Date.now() + 3_600_000) })
      .where(eq(jobs.id, j.id))
    await waitFor(() => reason !== undefined, 2000)
    expect(String(reason)).toMatch(/lease/)
    await waitFor(() => r.running() === 0)
    expect(await row(j)).toMatchObject({ status: 'running', leaseOwner: 'thief' }) // not ours to finish
  })
})
