import { Hono } from 'hono'
import { sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { rows } from '../db/dialect.ts'
import { isStale, listHeartbeats, type RunnerHeartbeat } from '../db/runner-heartbeats.ts'
import { resticProblem, resticVersion } from '../engine/restic/restic.ts'
import type { Deps } from './context.ts'

/** One check; `skipped` when it could not run because another failed (it is not named failing). */
type Check = { ok: boolean; problem?: string; skipped?: boolean }

/** What one runner looks like to a health probe: where it runs and how long since it beat. */
type RunnerView = {
  host: string
  /** The hosting node it serves; null: the panel's own server. */
  node: string | null
  pid: number
  concurrency: number
  lastSeen: string
  ageSeconds: number
  stale: boolean
}

/** restic is asked at most once a minute: a load balancer may probe every few seconds. */
const RESTIC_TTL_MS = 60_000
let resticCache: { at: number; version: string | null } | null = null

async function cachedResticVersion(now: number): Promise<string | null> {
  if (!resticCache || now - resticCache.at > RESTIC_TTL_MS) {
    resticCache = { at: now, version: await resticVersion() }
  }
  return resticCache.version
}

/** How long a probe waits for the database (a PostgreSQL server gone quiet never answers). */
const DATABASE_TIMEOUT_MS = 5_000

async function checkDatabase(db: Db): Promise<Check> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${DATABASE_TIMEOUT_MS / 1000} s`)),
      DATABASE_TIMEOUT_MS,
    )
  })
  try {
    await Promise.race([rows(db, sql`select 1`), timeout])
    return { ok: true }
  } catch (err) {
    return { ok: false, problem: `The database does not answer: ${(err as Error).message}` }
  } finally {
    clearTimeout(timer)
  }
}

function runnerName(r: RunnerHeartbeat): string {
  return `${r.host} (pid ${r.pid})`
}

/**
 * The runners of this process's node (PANEL_NODE; unset: the panel's own server) are expected
 * when this process runs one or any of them has recorded a heartbeat. Then each must have beaten
 * within HEARTBEAT_STALE_MS, and this process's own runner must have a row. Runners of other
 * hosting nodes are listed but never fail this node's probe: a load balancer would otherwise take
 * every web node out because one hosting node's runner stopped (Admin > Runner shows that).
 */
async function checkRunners(db: Db, ownId: string | undefined, node: string | null, now: Date) {
  const all = await listHeartbeats(db)
  const rows = all.filter((r) => r.node === node)
  const runners: RunnerView[] = all.map((r) => ({
    host: r.host,
    node: r.node,
    pid: r.pid,
    concurrency: r.concurrency,
    lastSeen: r.lastSeen.toISOString(),
    ageSeconds: Math.max(0, Math.round((now.getTime() - r.lastSeen.getTime()) / 1000)),
    stale: isStale(r, now),
  }))
  const expected = ownId !== undefined || rows.length > 0
  const problems = rows
    .filter((r) => isStale(r, now))
    .map(
      (r) =>
        `Runner ${runnerName(r)} was last seen ${Math.round((now.getTime() - r.lastSeen.getTime()) / 1000)} s ago.`,
    )
  if (ownId !== undefined && !rows.some((r) => r.id === ownId)) {
    problems.push('The runner of this process has recorded no heartbeat.')
  }
  const check: Check = problems.length ? { ok: false, problem: problems.join(' ') } : { ok: true }
  return { ...check, expected, runners }
}

/**
 * `GET /healthz`: for load balancers and systemd. No session, no CSRF, never cached. Answers
 * 200 `{status: "ok", checks}` when the database answers, every expected runner of this node
 * has beaten within 2 minutes and restic is installed (and new enough); otherwise 503
 * `{status: "fail", failing: [check names], checks}`, each failing check with a plain `problem`.
 */
export function healthRoutes(deps: Deps) {
  return new Hono().get('/', async (c) => {
    const { db } = deps
    const now = new Date()
    const database = await checkDatabase(db)
    const runner = database.ok
      ? await checkRunners(db, deps.runnerId, deps.config.node ?? null, now)
      : { ok: false, skipped: true, problem: 'Not checked: the database does not answer.' }
    const version = await cachedResticVersion(now.getTime())
    const problem = resticProblem(version)
    const restic: Check & { version: string | null } = problem
      ? { ok: false, problem, version }
      : { ok: true, version }
    const checks = { database, runner, restic }
    const failing = Object.entries(checks)
      .filter(([, check]) => !check.ok && !check.skipped)
      .map(([name]) => name)
    c.header('Cache-Control', 'no-store')
    if (failing.length) return c.json({ status: 'fail', failing, checks }, 503)
    return c.json({ status: 'ok', checks }, 200)
  })
}
