import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { runLogs, runStages, runs, type Run, type RunStage } from './schema.ts'
import { NotFoundError } from '../errors.ts'

export type RunKind = Run['kind']
export type StageStatus = RunStage['status']

export function createRun(
  db: Db,
  tenantId: number,
  fields: { kind: RunKind; trigger: Run['trigger']; jobId: number | null; policyId: number | null },
): Run {
  return db
    .insert(runs)
    .values({ tenantId, ...fields, status: 'running', startedAt: new Date() })
    .returning()
    .get()
}

export function setRunProgress(db: Db, runId: number, progress: Record<string, unknown>): void {
  db.update(runs).set({ progress }).where(eq(runs.id, runId)).run()
}

export function finishRun(
  db: Db,
  runId: number,
  status: 'success' | 'partial' | 'failed',
  fields: { error?: string | null; bytes?: number | null } = {},
): void {
  db.update(runs)
    .set({ status, error: fields.error ?? null, bytes: fields.bytes ?? null, finishedAt: new Date(), progress: null })
    .where(eq(runs.id, runId))
    .run()
}

export function startStage(db: Db, runId: number, name: string, destinationId: number | null = null): RunStage {
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
  fields: { message?: string | null; bytes?: number | null; snapshotId?: string | null; details?: Record<string, unknown> } = {},
): void {
  db.update(runStages)
    .set({ status, finishedAt: new Date(), ...fields })
    .where(eq(runStages.id, stageId))
    .run()
}

/** Appends a log line; callers pass plain words, never secrets or file contents. */
export function logRun(db: Db, runId: number, level: 'info' | 'warn' | 'error', message: string): void {
  db.insert(runLogs).values({ runId, level, message: message.slice(0, 2000), at: new Date() }).run()
}

export function listRuns(db: Db, tenantId: number, opts: { policyId?: number; limit?: number } = {}): Run[] {
  const where = opts.policyId
    ? and(eq(runs.tenantId, tenantId), eq(runs.policyId, opts.policyId))
    : eq(runs.tenantId, tenantId)
  return db.select().from(runs).where(where).orderBy(desc(runs.id)).limit(opts.limit ?? 50).all()
}

export function getRun(db: Db, tenantId: number, id: number): Run {
  const row = db.select().from(runs).where(and(eq(runs.tenantId, tenantId), eq(runs.id, id))).get()
  if (!row) throw new NotFoundError('That run')
  return row
}

export function runStagesOf(db: Db, runId: number): RunStage[] {
  return db.select().from(runStages).where(eq(runStages.runId, runId)).orderBy(runStages.id).all()
}

export function runLogsOf(db: Db, runId: number) {
  return db.select().from(runLogs).where(eq(runLogs.runId, runId)).orderBy(runLogs.id).all()
}

/** Latest finished backup stage per (policy, destination) for the Overview. */
export function latestBackupStages(db: Db, tenantId: number) {
  return db
    .select({ run: runs, stage: runStages })
    .from(runStages)
    .innerJoin(runs, eq(runStages.runId, runs.id))
    .where(
      and(
        eq(runs.tenantId, tenantId),
        eq(runs.kind, 'backup'),
        sql`${runStages.name} = 'snapshot'`,
        inArray(runStages.status, ['success', 'partial', 'failed']),
      ),
    )
    .orderBy(desc(runStages.id))
    .limit(500)
    .all()
}

