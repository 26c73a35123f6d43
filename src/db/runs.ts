import { and, count, desc, eq, inArray, max } from 'drizzle-orm'
import type { Db } from './client.ts'
import { transaction } from './tx.ts'
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
export async function createRun(
  db: Db,
  tenantId: number,
  fields: {
    kind: RunKind
    trigger: Run['trigger']
    jobId: number | null
    policyId: number | null
    policyName?: string | null
    /** The node whose runner runs it; null: the panel's own server. */
    node?: string | null
  },
  opts: { status?: 'running' | 'cancelled'; now?: Date } = {},
): Promise<Run> {
  const now = opts.now ?? new Date()
  return await transaction(db, async () => {
    const last = (
      await db
        .select({ n: max(runs.number) })
        .from(runs)
        .where(eq(runs.tenantId, tenantId))
    )[0]
    return (
      await db
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
    )[0]
  })
}

export async function setRunProgress(
  db: Db,
  runId: number,
  progress: Record<string, unknown>,
): Promise<void> {
  await db.update(runs).set({ progress }).where(eq(runs.id, runId))
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
export async function closeRuns(
  db: Db,
  which: { runId: number } | { jobIds: number[] },
  status: RunEnd,
  fields: { error?: string | null; bytes?: number | null; stageMessage?: string } = {},
  now = new Date(),
): Promise<void> {
  const where =
    'runId' in which
      ? eq(runs.id, which.runId)
      : and(inArray(runs.jobId, which.jobIds), eq(runs.status, 'running'))
  if ('jobIds' in which && !which.jobIds.length) return
  if (fields.stageMessage) {
    const open = (await db.select({ id: runs.id }).from(runs).where(where)).map((r) => r.id)
    if (open.length) {
      await db
        .update(runStages)
        .set({ status: 'failed', message: fields.stageMessage, finishedAt: now })
        .where(and(inArray(runStages.runId, open), eq(runStages.status, 'running')))
    }
  }
  const closed = await db
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
  const tenants = new Set(closed.filter((r) => r.kind !== 'restore').map((r) => r.tenantId))
  for (const tenantId of tenants) await refreshTenantHealth(db, tenantId, now)
}

/** Closes one run (see closeRuns). */
export async function finishRun(
  db: Db,
  runId: number,
  status: 'success' | 'partial' | 'failed',
  fields: { error?: string | null; bytes?: number | null } = {},
): Promise<void> {
  await closeRuns(db, { runId }, status, fields)
}

export async function startStage(
  db: Db,
  runId: number,
  name: string,
  destinationId: number | null = null,
): Promise<RunStage> {
  return (
    await db
      .insert(runStages)
      .values({ runId, name, destinationId, status: 'running', startedAt: new Date() })
      .returning()
  )[0]
}

export async function finishStage(
  db: Db,
  stageId: number,
  status: StageStatus,
  fields: {
    message?: string | null
    bytes?: number | null
    snapshotId?: string | null
    details?: Record<string, unknown>
  } = {},
): Promise<void> {
  await db
    .update(runStages)
    .set({ status, finishedAt: new Date(), ...fields })
    .where(eq(runStages.id, stageId))
}

/** Appends a log line; callers pass plain words, never secrets or file contents. */
export async function logRun(
  db: Db,
  runId: number,
  level: 'info' | 'warn' | 'error',
  message: string,
): Promise<void> {
  await db.insert(runLogs).values({ runId, level, message: message.slice(0, 2000), at: new Date() })
}

export async function listRuns(
  db: Db,
  tenantId: number,
  opts: { policyId?: number; limit?: number } = {},
): Promise<Run[]> {
  const where = opts.policyId
    ? and(eq(runs.tenantId, tenantId), eq(runs.policyId, opts.policyId))
    : eq(runs.tenantId, tenantId)
  return await db
    .select()
    .from(runs)
    .where(where)
    .orderBy(desc(runs.id))
    .limit(opts.limit ?? 50)
}

/** One page (1-based, newest first) of the tenant's runs of every kind, and their number. */
export async function pageOfRuns(
  db: Db,
  tenantId: number,
  page: number,
  size = 50,
): Promise<{ rows: Run[]; total: number }> {
  const total =
    (await db.select({ n: count() }).from(runs).where(eq(runs.tenantId, tenantId)))[0]?.n ?? 0
  const rows = await db
    .select()
    .from(runs)
    .where(eq(runs.tenantId, tenantId))
    .orderBy(desc(runs.id))
    .limit(size)
    .offset((Math.max(1, page) - 1) * size)
  return { rows, total }
}

export async function getRun(db: Db, tenantId: number, id: number): Promise<Run> {
  const row = (
    await db
      .select()
      .from(runs)
      .where(and(eq(runs.tenantId, tenantId), eq(runs.id, id)))
  )[0]
  if (!row) throw new NotFoundError('That run')
  return row
}

/** The newest run a job produced (a retried job has one per attempt), or undefined before it starts. */
export async function latestRunOfJob(
  db: Db,
  tenantId: number,
  jobId: number,
): Promise<Run | undefined> {
  return (
    await db
      .select()
      .from(runs)
      .where(and(eq(runs.tenantId, tenantId), eq(runs.jobId, jobId)))
      .orderBy(desc(runs.id))
  )[0]
}

export async function runStagesOf(db: Db, runId: number): Promise<RunStage[]> {
  return await db.select().from(runStages).where(eq(runStages.runId, runId)).orderBy(runStages.id)
}

export async function runLogsOf(db: Db, runId: number) {
  return await db.select().from(runLogs).where(eq(runLogs.runId, runId)).orderBy(runLogs.id)
}
