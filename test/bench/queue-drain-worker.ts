/**
 * One runner process of the queue-drain bench (postgres-bench.ts):
 * `node --import tsx test/bench/queue-drain-worker.ts <postgres URL | SQLite file> <out.json> <concurrency>`.
 * Runs `startRunner` on its own connection (pool) with a sync-snapshots handler that only
 * records the claim; on SIGTERM it stops the runner and writes its records to <out.json>.
 */
import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { openDb, type Db } from '../../src/db/client.ts'
import { closePostgres } from '../../src/db/dialect.ts'
import { connectPostgres } from '../../src/db/pg.ts'
import { jobs } from '../../src/db/schema.ts'
import { startRunner } from '../../src/runner/runner.ts'

/** One job as this process saw it; times are epoch ms with sub-ms precision, comparable across processes. */
export type ClaimRecord = {
  job: number
  tenant: number
  pid: number
  /** When the handler started: just after the claim committed. */
  claimAt: number
  /** When the runner's completeJob UPDATE had answered: just after the job was done. */
  doneAt: number | null
}

export type WorkerReport = { records: ClaimRecord[]; errors: number; firstErrors: string[] }

const [target, out, concurrencyArg] = process.argv.slice(2)
if (!target || !out) throw new Error('usage: queue-drain-worker.ts <db> <out.json> <concurrency>')
const clock = () => performance.timeOrigin + performance.now()

const db = target.startsWith('postgres') ? connectPostgres(target) : openDb(target)
const records = new Map<number, ClaimRecord>()
const report: WorkerReport = { records: [], errors: 0, firstErrors: [] }

/**
 * The runner's Db, except that the UPDATE marking a job done records when it answered: the
 * handler returns before the runner writes 'done', and another process may only claim the
 * tenant's next job after that write. The job is the statement's parameter that is one of ours.
 */
function watchCompletions(db: Db): Db {
  type Query = PromiseLike<unknown> & { toSQL(): { params: unknown[] } }
  type Update = { set(values: Record<string, unknown>): { where(cond: unknown): Query } }
  return new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop)
      if (prop !== 'update') return typeof value === 'function' ? value.bind(target) : value
      return (table: unknown) => {
        const update = (target.update as (t: unknown) => Update)(table)
        if (table !== jobs) return update
        return {
          set(values: Record<string, unknown>) {
            const set = update.set(values)
            if (values.status !== 'done') return set
            return {
              where(cond: unknown) {
                const query = set.where(cond)
                const job = query.toSQL().params.find((p) => records.has(p as number))
                return Promise.resolve(query).then((result) => {
                  const record = records.get(job as number)
                  if (record) record.doneAt = clock()
                  return result
                })
              },
            }
          },
        }
      }
    },
  })
}

const runner = startRunner({
  db: watchCompletions(db),
  concurrency: Number(concurrencyArg ?? 4),
  handlers: {
    'sync-snapshots': async (job) => {
      const claimAt = clock()
      records.set(job.id, {
        job: job.id,
        tenant: job.tenantId,
        pid: process.pid,
        claimAt,
        doneAt: null,
      })
    },
  },
  onError: (err) => {
    report.errors++
    if (report.firstErrors.length < 5) report.firstErrors.push(String(err))
  },
})

process.once('SIGTERM', () => {
  void (async () => {
    await runner.stop()
    report.records = [...records.values()]
    writeFileSync(out, JSON.stringify(report))
    await closePostgres(db)
    if (!target.startsWith('postgres')) db.$client.close()
    process.exit(0)
  })()
})
