import type { Destination, Tenant } from '../../db/schema.ts'
import type { PolicyWithLinks } from '../../db/policies.ts'
import { finishStage, logRun, setRunProgress, startStage } from '../../db/runs.ts'
import { uploadLimitKiB } from '../../db/jobs.ts'
import { newestSnapshotTime, recordSnapshot } from '../../db/snapshots.ts'
import type { RunAs } from '../host/isolation.ts'
import { openRepository, type OpenRepo } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import { skipRetention } from './retention.ts'
import { EXIT_PARTIAL, runRestic } from '../restic/restic.ts'
import { isPermanent } from '../../errors.ts'
import { plainReason } from '../restic/failure.ts'
import { backupProgress } from './backup-progress.ts'
import { wallClock } from '../../zoned.ts'

/** How long the `restic unlock` after a cancelled backup may take. */
const UNLOCK_MS = 30_000

/** How one stage of a backup ended. */
export type Outcome = {
  status: 'success' | 'partial' | 'failed'
  reason?: string
  permanent?: boolean
  bytes?: number
}

/** What goes into each snapshot of the run: paths, extra tags (`db:…`, `incomplete`). */
export type Sources = { paths: string[]; tags: string[]; complete: boolean }

/** One destination of a backup run, and what goes into its snapshot. */
export type Target = {
  tenant: Tenant
  policy: PolicyWithLinks
  dest: Destination
  runId: number
  work: string
  who: RunAs
  signal: AbortSignal
  sources: Sources
  lists: { exclude: string; include: string | null }
  index: number
  of: number
  retryAfterCrash: boolean
}

/**
 * The snapshot on one destination. Returns the repository still open when a snapshot was stored,
 * so retention can follow once the whole run is known to be good; the caller closes it.
 */
export async function backupTo(
  deps: EngineDeps,
  t: Target,
): Promise<{ outcome: Outcome; repo: OpenRepo | null }> {
  const { db } = deps
  const stage = await startStage(db, t.runId, 'snapshot', t.dest.id)
  let repo: OpenRepo | null = null
  await setRunProgress(db, t.runId, stepProgress(t, `Connecting to ${t.dest.name}…`))
  try {
    repo = await openRepository(deps, t.tenant, t.dest, t.work, t.who, t.signal, {
      create: true,
      clearLocks: t.retryAfterCrash,
    })
    const unreadable: string[] = []
    let summary: Record<string, any> | null = null
    let last = 0
    const paths = t.lists.include
      ? t.sources.paths.filter((p) => p !== t.tenant.homeDir)
      : t.sources.paths
    const limit = await uploadLimitKiB(db)
    const track = backupProgress({ destination: t.dest.name, index: t.index, of: t.of })
    const bridge = repo.bridge
    const tags = [`policy:${t.policy.id}`, `run:${t.runId}`, ...t.sources.tags]
    // The snapshot's time is given to restic to the second, so the catalog holds restic's own
    // time and retention can be computed from it (forget-plan.ts); not near an offset change.
    const second = await distinctSecond(await newestSnapshotTime(db, t.tenant.id, t.dest.id))
    const now = new Date()
    const wall = wallClock(second, t.tenant.timezone)
    const startedAt = wall ? second : now
    const args = [
      ...(limit ? ['--limit-upload', String(limit)] : []),
      'backup',
      ...(wall ? ['--time', wall] : []),
      '--json',
      '--host',
      t.tenant.name,
      ...tags.flatMap((tag) => ['--tag', tag]),
      '--exclude-file',
      t.lists.exclude,
      ...(t.lists.include ? ['--files-from', t.lists.include] : []),
      '--',
      ...paths,
    ]
    const { code } = await runRestic(args, repo.env, {
      okCodes: [0, EXIT_PARTIAL],
      onJson: (m) => {
        if (m.message_type === 'error' && m.item && unreadable.length < 200)
          unreadable.push(String(m.item))
        if (m.message_type === 'summary') summary = m
        if (m.message_type !== 'status') return
        const progress = track(m, bridge.stats().bytesIn)
        if (Date.now() - last > 500) {
          last = Date.now()
          setRunProgress(db, t.runId, progress).catch((err) =>
            console.error(`[backup] could not record progress: ${(err as Error).message}`),
          )
        }
      },
    })
    const s = summary as Record<string, any> | null
    const bytes = Number(s?.data_added ?? 0)
    const snapshotId = s?.snapshot_id ? repo.fullId(String(s.snapshot_id)) : null
    if (snapshotId) {
      await recordSnapshot(db, t.tenant.id, t.dest.id, {
        id: snapshotId,
        time: startedAt.toISOString(),
        tags,
        paths,
        complete: code === 0 && t.sources.complete,
        bytes: s?.total_bytes_processed ?? null,
        files: s?.total_files_processed ?? null,
        runId: t.runId,
      })
    }
    if (code === EXIT_PARTIAL) {
      const message = `${unreadable.length} file(s) could not be read and are missing from snapshot ${snapshotId?.slice(0, 8) ?? ''}.`
      await finishStage(db, stage.id, 'partial', {
        bytes,
        snapshotId,
        message,
        details: { unreadable },
      })
      await logRun(
        db,
        t.runId,
        'warn',
        `${t.dest.name}: ${message} ${unreadable.slice(0, 20).join(', ')}`,
      )
      return { outcome: { status: 'partial', reason: `${t.dest.name}: ${message}`, bytes }, repo }
    }
    await finishStage(db, stage.id, 'success', {
      bytes,
      snapshotId,
      message: `Backup ${snapshotId?.slice(0, 8)} stored on ${t.dest.name}.`,
    })
    return { outcome: { status: 'success', bytes }, repo }
  } catch (err) {
    const cause = repo?.storageError() ?? err
    const reason = `${t.dest.name}: ${plainReason(cause)}`
    await finishStage(db, stage.id, 'failed', { message: plainReason(cause) })
    await logRun(db, t.runId, 'error', reason)
    await skipRetention(deps, t, 'the snapshot failed')
    // restic stopped while it was still taking its lock has not registered it for removal and
    // leaves it behind; `unlock` removes only locks whose process is gone.
    if (repo && t.signal.aborted) {
      const env = { ...repo.env, signal: AbortSignal.timeout(UNLOCK_MS) }
      await runRestic(['unlock'], env).catch((e) =>
        logRun(db, t.runId, 'warn', `${t.dest.name}: could not remove a lock: ${plainReason(e)}`),
      )
    }
    await repo?.close()
    return { outcome: { status: 'failed', reason, permanent: isPermanent(cause) }, repo: null }
  }
}

/**
 * A step of a backup other than restic's upload (connecting, retention, checking), in the words
 * the Overview shows; no percentage, since restic tells none for these.
 */
export function stepProgress(t: Pick<Target, 'dest'>, text: string) {
  return { stage: 'step', destination: t.dest.name, text, percent: null }
}

const wholeSecond = (ms: number) => Math.floor(ms / 1000) * 1000

/**
 * This second, or the next one when the destination's newest snapshot already holds it (a backup
 * that took under a second), waited for: two snapshots of one second are in restic's own order,
 * so "keep the last" would pick between them by chance.
 */
async function distinctSecond(newest: Date | null): Promise<Date> {
  const next = newest ? wholeSecond(newest.getTime()) + 1000 : 0
  // A timer may fire a millisecond before Date.now() reaches `next`: wait until it has.
  if (next - Date.now() <= 2000)
    while (Date.now() < next) await new Promise((r) => setTimeout(r, next - Date.now()))
  return new Date(wholeSecond(Date.now()))
}
