import { and, count, desc, eq, inArray, max } from 'drizzle-orm'
import type { Db } from './client.ts'
import { runLogs, runStages, runs, type Run, type RunStage } from './schema.ts'
import { NotFoundError } from '../errors.ts'
import { refreshTenantHealth } from './health.ts'

export type RunKind = Run['kind']
export type StageStatus = RunStage['status']

/**
 * Starts a run. Its `number` is the tenant's next (1 for a tenant's first run), taken inside one
 * `BEGIN IMMEDIATE` with the insert, so two runs of one tenant never share a number.
 * `policyName` keeps the policy's name for the run's history once the policy is deleted.
 */
export function createRun(
  db: Db,
  tenantId: number,
  fields: {
    kind: RunKind
    trigger: Run['trigger']
    jobId: number | null
    policyId: number | null
    policyName?: string | null
  },
  opts: { status?: 'running' | 'cancelled'; now?: Date } = {},
): Run {
  const now = opts.now ?? new Date()
  return db.$client
    .transaction(() => {
      const last = db
        .select({ n: max(runs.number) })
        .from(runs)
        .where(eq(runs.tenantId, tenantId))
        .get()
      return db
        .insert(runs)
        .values({
          tenantId,
          ...fields,
          number: (last?.n ?? 0) + 1,
          status: opts.status ?? 'running',
          startedAt: now,
          ...(opts.status === 'cancelled' ? { finishedAt: now } : {}),
        })
        .returning()
        .get()
    })
    .immediate()
}

export function setRunProgress(db: Db, runId: number, progress: Record<string, unknown>): void {
  db.update(runs).set({ progress }).where(eq(runs.id, runId)).run()
}

/** How a run ended; 'interrupted': its runner stopped during it; 'cancelled': the tenant stopped it. */
export type RunEnd = 'success' | 'partial' | 'failed' | 'interrupted' | 'cancelled'

/**
 * Closes runs, the only way a run leaves 'running': status, error, bytes and finish time set,
 * live progress cleared. `{ runId }` closes that run; `{ jobIds }` closes those jobs' runs still
 * running, and with `stageMessage` fails their running stages with it first. The admin's Tenants
 * page reads tenant_health, never runs, so it is refreshed per backup or verify run closed (a
 * verify run records the last verified restore before it is closed).
 */
export function closeRuns(
  db: Db,
  which: { runId: number } | { jobIds: number[] },
  status: RunEnd,
  fields: { error?: string | null; bytes?: number | null; stageMessage?: string } = {},
  now = new Date(),
): void {
  const where =
    'runId' in which
      ? eq(runs.id, which.runId)
      : and(inArray(runs.jobId, which.jobIds), eq(runs.status, 'running'))
  if ('jobIds' in which && !which.jobIds.length) return
  if (fields.stageMessage) {
    const open = db
      .select({ id: runs.id })
      .from(runs)
      .where(where)
      .all()
      .map((r) => r.id)
    if (open.length) {
      db.update(runStages)
        .set({ status: 'failed', message: fields.stageMessage, finishedAt: now })
        .where(and(inArray(runStages.runId, open), eq(runStages.status, 'running')))
        .run()
    }
  }
  const closed = db
    .update(runs)
    .set({
      status,
      error: fields.error ?? null,
      bytes: fields.bytes ?? null,
      finishedAt: now,
      progress: null,
    })
    .where(where)
    .returning({ tenantId: runs.tenantId, kind: runs.kind })
    .all()
  const tenants = new Set(closed.filter((r) => r.kind !== 'restore').map((r) => r.tenantId))
  for (const tenantId of tenants) refreshTenantHealth(db, tenantId, now)
}

/** Closes one run (see closeRuns). */
export function finishRun(
  db: Db,
  runId: number,
  status: 'success' | 'partial' | 'failed',
  fields: { error?: string | null; bytes?: number | null } = {},
): void {
  closeRuns(db, { runId }, status, fields)
}

export function startStage(
  db: Db,
  runId: number,
  name: string,
  destinationId: number | null = null,
): RunStage {
  return db
    .insert(runStages)
    .values({ runId, name, destinationId, status: 'running', startedAt: new Date() })
    .returning()
    .get()
}

export function finishStage(
  db: Db,
  stageId: number,
  status: StageStatus,
  fields: {
    message?: string | null
    bytes?: number | null
    snapshotId?: string | null
    details?: Record<string, unknown>
  } = {},
): void {
  db.update(runStages)
    .set({ status, finishedAt: new Date(), ...fields })
    .where(eq(runStages.id, stageId))
    .run()
}

/** Appends a log line; callers pass plain words, never secrets or file contents. */
export function logRun(
  db: Db,
  runId: number,
  level: 'info' | 'warn' | 'error',
  message: string,
): void {
  db.insert(runLogs)
    .values({ runId, level, message: message.slice(0, 2000), at: new Date() })
    .run()
}

export function listRuns(
  db: Db,
  tenantId: number,
  opts: { policyId?: number; limit?: number } = {},
): Run[] {
  const where = opts.policyId
    ? and(eq(runs.tenantId, tenantId), eq(runs.policyId, opts.policyId))
    : eq(runs.tenantId, tenantId)
  return db
    .select()
    .from(runs)
    .where(where)
    .orderBy(desc(runs.id))
    .limit(opts.limit ?? 50)
    .all()
}

/** One page (1-based, newest first) of the tenant's runs of every kind, and their number. */
export function pageOfRuns(
  db: Db,
  tenantId: number,
  page: number,
  size = 50,
): { rows: Run[]; total: number } {
  const total =
    db.select({ n: count() }).from(runs).where(eq(runs.tenantId, tenantId)).get()?.n ?? 0
  const rows = db
    .select()
    .from(runs)
    .where(eq(runs.tenantId, tenantId))
    .orderBy(desc(runs.id))
    .limit(size)
    .offset((Math.max(1, page) - 1) * size)
    .all()
  return { rows, total }
}

export function getRun(db: Db, tenantId: number, id: number): Run {
  const row = db
    .select()
    .from(runs)
    .where(and(eq(runs.tenantId, tenantId), eq(runs.id, id)))
    .get()
  if (!row) throw new NotFoundError('That run')
  return row
}

/** The newest run a job produced (a retried job has one per attempt), or undefined before it starts. */
export function latestRunOfJob(db: Db, tenantId: number, jobId: number): Run | undefined {
  return db
    .select()
    .from(runs)
    .where(and(eq(runs.tenantId, tenantId), eq(runs.jobId, jobId)))
    .orderBy(desc(runs.id))
    .get()
}

export function runStagesOf(db: Db, runId: number): RunStage[] {
  return db.select().from(runStages).where(eq(runStages.runId, runId)).orderBy(runStages.id).all()
}

export function runLogsOf(db: Db, runId: number) {
  return db.select().from(runLogs).where(eq(runLogs.runId, runId)).orderBy(runLogs.id).all()
}
