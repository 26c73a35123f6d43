import { setTimeout as sleep } from 'node:timers/promises'
import { desc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../../src/db/client.ts'
import { jobs, runs } from '../../src/db/schema.ts'
import { transaction } from '../../src/db/tx.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { directRestic, type FleetTenant } from './fleet.ts'
import { isStopping, Interrupted } from './measure.ts'

/** One pass over a group of tenants: wall time from queueing to the last finish, and failures. */
export type Pass = { ms: number; tenants: number; failures: string[] }

const POLL_MS = 100

/**
 * Queues one backup per tenant in a single transaction (trigger 'schedule', as a schedule slot
 * would, so no on-demand daily limit applies) for the runner inside `panel serve` to take, and
 * waits until every job has finished. A job that failed, or went back to the queue to retry,
 * counts as a failure with the run's reason. The time runs from just before the enqueue to the
 * last job's final update (its completion), both on this host's clock.
 */
export async function panelPass(db: Db, tenants: FleetTenant[], timeoutMs: number): Promise<Pass> {
  const start = Date.now()
  const ids = await transaction(db, async () => {
    const queued: number[] = []
    for (const t of tenants)
      queued.push((await requestBackup(db, t.tenantId, t.policyId, 'schedule')).job.id)
    return queued
  })
  const deadline = start + timeoutMs
  type Row = { id: number; status: string; attempts: number; updated: number; error: string | null }
  for (;;) {
    if (isStopping()) throw new Interrupted()
    const lastRunError = db
      .select({ error: runs.error })
      .from(runs)
      .where(eq(runs.jobId, jobs.id))
      .orderBy(desc(runs.id))
      .limit(1)
    const rows: Row[] = (
      await db
        .select({
          id: jobs.id,
          status: jobs.status,
          attempts: jobs.attempts,
          updatedAt: jobs.updatedAt,
          error: sql<string | null>`coalesce((${lastRunError}), ${jobs.lastError})`,
        })
        .from(jobs)
        .where(inArray(jobs.id, ids))
    ).map(({ updatedAt, ...r }) => ({ ...r, updated: updatedAt.getTime() }))
    const retrying = (r: Row) => r.status === 'queued' && r.attempts > 0
    const finished = rows.filter((r) => r.status === 'done' || r.status === 'failed' || retrying(r))
    if (finished.length === ids.length) {
      const end = Math.max(...rows.map((r) => r.updated))
      const failures = rows
        .filter((r) => r.status !== 'done')
        .map((r) => `job ${r.id} ${retrying(r) ? 'retrying' : r.status}: ${r.error ?? '?'}`)
      return { ms: end - start, tenants: tenants.length, failures }
    }
    if (Date.now() > deadline) {
      const left = ids.length - finished.length
      return { ms: NaN, tenants: tenants.length, failures: [`timed out with ${left} jobs left`] }
    }
    await sleep(POLL_MS)
  }
}

/**
 * The baseline: `restic backup --json --host <tenant> -- <home>` per tenant, as its own user on
 * its own repository, `concurrency` at a time (a shell loop with `xargs -P`, without the shell),
 * from the first start to the last exit.
 */
export async function directPass(
  tenants: FleetTenant[],
  concurrency: number,
  timeoutMs: number,
): Promise<Pass> {
  const start = Date.now()
  const failures: string[] = []
  const queue = [...tenants]
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const args = ['backup', '--json', '--host', t.name, '--', t.home]
      const m = await directRestic(t, args, timeoutMs)
      if (m.code !== 0) failures.push(`restic backup for ${t.name} exited ${m.code}: ${m.last}`)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ms: Date.now() - start, tenants: tenants.length, failures }
}

/** Tenants per hour of a pass; NaN when it did not finish. */
export const perHour = (p: Pass) => (p.tenants / p.ms) * 3_600_000
