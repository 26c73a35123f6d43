import { randomBytes } from 'node:crypto'
import os from 'node:os'
import type { Db } from '../db/client.ts'
import {
  claimJob,
  completeJob,
  failJob,
  getRunnerSetting,
  heartbeat,
  releaseJob,
  setRunnerSetting,
  type Job,
  type JobKind,
} from '../db/jobs.ts'
import { JobCancelled, JobFailed, cancelledBy, isPermanent } from '../errors.ts'
import { cancelRequested, endCancelled } from '../db/job-cancel.ts'
import { forgetStaleOnHost, removeHeartbeat, saveHeartbeat } from '../db/runner-heartbeats.ts'
import { listenForJobs } from '../db/job-wakeups.ts'

/**
 * Runs one job of kind K, its payload typed. Must stop promptly when `signal` aborts (runner
 * stopping, the lease was lost to another runner, or the tenant cancelled the job: a
 * JobCancelled); `signal.reason` says which. Resolving
 * marks the job done; throwing retries it with backoff unless the error is permanent
 * (isPermanent: a JobFailed that says so, bad credentials, a missing object…).
 */
export type JobHandler<K extends JobKind = JobKind> = (
  job: Job<K>,
  ctx: { signal: AbortSignal; owner: string },
) => Promise<void>

/** A handler per job kind. */
export type Handlers = { [K in JobKind]?: JobHandler<K> }

export type RunnerOptions = {
  db: Db
  handlers: Handlers
  /** Jobs at once in this process; the `concurrency` runner setting overrides it when set. */
  concurrency?: number
  /** Lease owner id; default `hostname:pid:random`. */
  owner?: string
  /** Poll interval for due jobs; default 1000 ms. */
  pollMs?: number
  /** Lease length, renewed every leaseMs/3; default 30 000 ms. */
  leaseMs?: number
  /** How long `stop()` waits for each aborted handler; default 10 000 ms. */
  stopTimeoutMs?: number
  /**
   * How often the poll loop records this process in runner_heartbeats (for /healthz and Admin >
   * Runner); default 5000 ms. 0 records nothing (a CLI `--wait` run that may be cut short).
   */
  heartbeatMs?: number
  /** Errors that must not kill the loop (database busy, handler bugs); default console.error. */
  onError?: (err: unknown, job?: Job) => void
  /** The node it serves: only jobs of tenants on it are claimed; default null (this server). */
  node?: string | null
  /** A job failed for good because its last attempt died with its runner (see claimJob). */
  onGaveUp?: (job: Job) => void | Promise<void>
}

export type Runner = {
  /** Stops claiming, aborts running handlers and waits for them (each up to stopTimeoutMs). */
  stop(): Promise<void>
  /** Polls now instead of at the next interval (call after enqueueing in this process). */
  wake(): void
  /** Jobs this process is running now. */
  running(): number
  /** This runner's lease owner id, also its runner_heartbeats row. */
  owner: string
}

type Active = { controller: AbortController; beat: NodeJS.Timeout; done: Promise<void> }

const STOPPING = 'The runner is stopping.'
/** The poll interval while LISTEN/NOTIFY brings the wake-ups. */
const LISTEN_POLL_MS = 5000
const LEASE_LOST = 'The lease on this job was lost; another runner may retry it.'

/** Stops every runner process from claiming new jobs; running jobs finish. */
export async function pauseRunner(db: Db): Promise<void> {
  await setRunnerSetting(db, 'paused', '1')
}

export async function resumeRunner(db: Db): Promise<void> {
  await setRunnerSetting(db, 'paused', '0')
}

/**
 * Starts claiming and running jobs (leases, heartbeats, retries with backoff). One failing job
 * or a busy database never stops the loop.
 */
export function startRunner(opts: RunnerOptions): Runner {
  const { db, handlers, pollMs = 1000, leaseMs = 30_000, stopTimeoutMs = 10_000 } = opts
  const node = opts.node ?? null
  const host = os.hostname()
  const owner = opts.owner ?? `${host}:${process.pid}:${randomBytes(4).toString('hex')}`
  const heartbeatMs = opts.heartbeatMs ?? 5000
  const startedAt = new Date()
  let lastBeat = 0
  const fallback = opts.concurrency ?? os.availableParallelism()
  const onError = opts.onError ?? ((err: unknown) => console.error('runner:', err))
  const active = new Map<number, Active>()
  let timer: NodeJS.Timeout | undefined
  let stopped: Promise<void> | undefined
  /** The poll running now, if any: polls never overlap, and stop() waits for it. */
  let polling: Promise<void> | undefined
  /** Closes the PostgreSQL LISTEN connection, once it is open. */
  let listening: (() => Promise<void>) | undefined
  /** wake() was called while a poll ran: poll again as soon as it ends. */
  let pollAgain = false

  const limit = async () => {
    const set = Number(await getRunnerSetting(db, 'concurrency'))
    return Number.isInteger(set) && set > 0 ? set : fallback
  }

  function wake() {
    if (stopped) return
    clearTimeout(timer)
    timer = setTimeout(poll, 0) // never re-enter poll from inside a handler or a claim
  }

  /** Records this process as alive, at most every heartbeatMs, from the poll loop itself. */
  async function recordAlive() {
    const now = new Date()
    if (!heartbeatMs || now.getTime() - lastBeat < heartbeatMs) return
    if (!lastBeat) await forgetStaleOnHost(db, host, node, owner, now)
    await saveHeartbeat(db, {
      id: owner,
      host,
      pid: process.pid,
      concurrency: await limit(),
      node,
      startedAt,
      lastSeen: now,
    })
    lastBeat = now.getTime()
  }

  /** Aborts the running jobs their tenants asked to cancel (from any process, by the database). */
  async function stopCancelled() {
    for (const id of await cancelRequested(db, [...active.keys()])) {
      const e = active.get(id)
      if (e && !e.controller.signal.aborted) e.controller.abort(new JobCancelled())
    }
  }

  /** Starts a poll, unless one is still running: that one then polls again when it ends. */
  function poll() {
    timer = undefined
    if (polling) {
      pollAgain = true
      return
    }
    polling = pollOnce()
      .catch((err) => onError(err))
      .finally(() => {
        polling = undefined
        const soon = pollAgain
        pollAgain = false
        if (!stopped && !timer)
          timer = setTimeout(poll, soon ? 0 : listening ? LISTEN_POLL_MS : pollMs)
      })
  }

  async function pollOnce() {
    try {
      await recordAlive()
    } catch (err) {
      onError(err)
    }
    try {
      await stopCancelled()
    } catch (err) {
      onError(err)
    }
    try {
      if ((await getRunnerSetting(db, 'paused')) !== '1') {
        const max = await limit()
        while (!stopped && active.size < max) {
          const job = await claimJob(db, owner, leaseMs, new Date(), opts.onGaveUp, node)
          if (!job) break
          if (stopped) {
            // stop() came while this claim ran: give the job back instead of starting it.
            await releaseJob(db, job.id, owner)
            break
          }
          launch(job)
        }
      }
    } catch (err) {
      onError(err)
    }
  }

  function launch(job: Job) {
    const controller = new AbortController()
    const lease = { lost: false }
    /** The lease renewal in flight, if any: renewals never overlap. */
    let renewal: Promise<void> | undefined
    const renew = async () => {
      if (await heartbeat(db, job.id, owner, leaseMs)) return
      clearInterval(beat)
      lease.lost = true
      controller.abort(new Error(LEASE_LOST))
    }
    const beat = setInterval(
      () => {
        if (renewal) return // the last renewal has not answered yet
        renewal = renew()
          .catch((err) => {
            onError(err, job) // keep trying; the lease may still be renewed before it expires
          })
          .finally(() => {
            renewal = undefined
          })
      },
      Math.max(1, Math.floor(leaseMs / 3)),
    )
    const done = execute(job, controller.signal, lease).finally(async () => {
      clearInterval(beat)
      await renewal // no write for this job after it is reported done
      active.delete(job.id)
      wake()
    })
    active.set(job.id, { controller, beat, done })
  }

  async function execute(job: Job, signal: AbortSignal, lease: { lost: boolean }) {
    let error: unknown
    let ok = false
    try {
      // The handler of the job's own kind: the map pairs each kind with its payload type.
      const handler = handlers[job.kind] as JobHandler | undefined
      if (!handler) throw new JobFailed(`This runner has no handler for ${job.kind} jobs.`, true)
      await handler(job, { signal, owner })
      ok = true
    } catch (err) {
      error = err
    }
    if (lease.lost) return // no longer ours to record; the lease holder does that
    try {
      if (ok) await completeJob(db, job.id, owner)
      else if (cancelledBy(signal)) await endCancelled(db, job.id, owner)
      else if (signal.aborted && stopped) await releaseJob(db, job.id, owner)
      else {
        const message = error instanceof Error ? error.message : String(error)
        await failJob(db, job.id, owner, message, { permanent: isPermanent(error) })
      }
    } catch (err) {
      onError(err, job)
    }
  }

  async function stop() {
    clearTimeout(timer)
    await listening?.()
    // A poll claiming now finishes first (giving back what it claimed meanwhile), so no job
    // is claimed after stop() resolves.
    await polling
    try {
      if (lastBeat) await removeHeartbeat(db, owner)
    } catch (err) {
      onError(err)
    }
    const entries = [...active.values()]
    for (const e of entries) e.controller.abort(new Error(STOPPING))
    await Promise.all(
      entries.map((e) => {
        let t: NodeJS.Timeout | undefined
        const timeout = new Promise<void>((resolve) => (t = setTimeout(resolve, stopTimeoutMs)))
        return Promise.race([e.done, timeout]).finally(() => {
          clearTimeout(t)
          clearInterval(e.beat) // a handler that ignores the signal loses its lease, then retried
        })
      }),
    )
  }

  // PostgreSQL: queued jobs and cancellations wake this runner at once; the poll only catches
  // what no notice announces (a retry coming due, a lease running out).
  listenForJobs(db, wake, (err) => onError(err))
    .then((close) => {
      if (!close) return
      if (stopped) return void close()
      listening = close
    })
    .catch((err) => onError(err))
  timer = setTimeout(poll, 0)
  return {
    stop: () => (stopped ??= stop()),
    wake,
    running: () => active.size,
    owner,
  }
}
