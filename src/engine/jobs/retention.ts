import type { Destination } from '../../db/schema.ts'
import type { PolicyWithLinks } from '../../db/policies.ts'
import { finishStage, logRun, startStage } from '../../db/runs.ts'
import {
  markCatalogSynced,
  markPruned,
  pruneDue,
  setRepositoryStats,
} from '../../db/repositories.ts'
import type { OpenRepo } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import { runRestic } from '../restic/restic.ts'
import { plainReason } from '../restic/failure.ts'
import { forgetPlan } from './forget-plan.ts'
import { calendarDay } from '../../zoned.ts'
import { SAFETY_KEEP_DAYS, catalogOf, dumpKey, removeSnapshots } from '../../db/snapshots.ts'

/** What retention works on: one policy's snapshots in one destination's repository, for a run. */
export type Scope = {
  policy: PolicyWithLinks
  dest: Destination
  runId: number
  signal: AbortSignal
}

/** Records a retention stage that did not run, and why: nothing was deleted. */
export async function skipRetention(deps: EngineDeps, t: Scope, why: string) {
  const stage = await startStage(deps.db, t.runId, 'retention', t.dest.id)
  await finishStage(deps.db, stage.id, 'skipped', {
    message: `Skipped because ${why}; nothing was deleted.`,
  })
}

type Listed = { id: string; time: string; tags?: string[] | null }

/**
 * Which of `remove` must stay anyway: for each of the policy's databases, the newest snapshot
 * (among `all`) that holds a good dump of it, so a database whose dump fails for weeks keeps its
 * last copy whatever the retention settings say.
 */
export function protectedSnapshots(all: Listed[], databases: string[]): Set<string> {
  const keep = new Set<string>()
  const newestFirst = [...all].sort((a, b) => b.time.localeCompare(a.time))
  for (const name of databases) {
    const newest = newestFirst.find((s) => (s.tags ?? []).includes(`db:${name}`))
    if (newest) keep.add(newest.id)
  }
  return keep
}

/**
 * Retention for one policy in one repository. What the policy's keep rules (in the tenant's time
 * zone) would forget is computed from the panel's catalog (forget-plan.ts) when it provably
 * matches the repository, else by `restic forget --dry-run`. The newest snapshot holding each of
 * the policy's database dumps is taken out, backups of today that only a later one of today
 * replaces wait for the day to end, and safety snapshots older than SAFETY_KEEP_DAYS are added.
 * restic runs only when something is to be forgotten, with `--prune` at most once per calendar
 * day per repository (pruning rereads the index and costs more than a no-change backup);
 * `pruneNow` forgets and prunes whatever the date (a tenant over a limit needs the space now).
 * Callers run it only after a run whose every stage succeeded.
 */
export async function retention(
  deps: EngineDeps,
  t: Scope,
  repo: OpenRepo,
  opts: { pruneNow?: boolean; now?: number } = {},
) {
  const stage = await startStage(deps.db, t.runId, 'retention', t.dest.id)
  const p = t.policy
  const keep = [
    ['--keep-last', p.keepLast],
    ['--keep-daily', p.keepDaily],
    ['--keep-weekly', p.keepWeekly],
    ['--keep-monthly', p.keepMonthly],
    ['--keep-yearly', p.keepYearly],
  ]
    .filter(([, n]) => Number(n) > 0)
    .flatMap(([flag, n]) => [String(flag), String(n)])
  try {
    const rows = await catalogOf(deps.db, t.dest.tenantId, t.dest.id)
    const mine = rows.filter((r) => r.tags.includes(`policy:${p.id}`))
    const listed = (r: (typeof rows)[number]): Listed => ({
      id: r.snapshotId,
      time: r.time.toISOString(),
      tags: r.tags,
    })
    let all: Listed[] = mine.map(listed)
    let wouldGo: Listed[] = []
    const complete = await catalogComplete(repo, rows, t.signal)
    // Proven in line with the repository: pages need not ask restic for a while.
    if (complete) await markCatalogSynced(deps.db, repo.repositoryId)
    const planned = complete
      ? forgetPlan(
          mine.map((r) => ({ id: r.snapshotId, time: r.time })),
          p,
          repo.env.timezone ?? 'UTC',
        )
      : null
    if (planned && !planned.doubt) {
      const gone = new Set(planned.remove)
      wouldGo = all.filter((s) => gone.has(s.id))
    } else {
      // The catalog may not match the repository (snapshots made elsewhere, times too close to
      // a day's end to call): restic decides, as it always may.
      all = []
      await unlockingRetry(
        () =>
          runRestic(
            ['forget', '--dry-run', '--json', '--tag', `policy:${p.id}`, '--group-by', '', ...keep],
            repo.env,
            {
              onJson: (m) => {
                for (const group of Array.isArray(m) ? m : [m]) {
                  all.push(...(group?.keep ?? []), ...(group?.remove ?? []))
                  wouldGo.push(...(group?.remove ?? []))
                }
              },
            },
          ),
        repo,
      )
    }
    const kept = protectedSnapshots(all, p.databases.map(dumpKey))
    const unprotected = wouldGo.filter((s) => !kept.has(s.id))
    const now = opts.now ?? Date.now()
    const zone = repo.env.timezone ?? 'UTC'
    // Backups of today that only a later one of today replaces (the day's rule keeps one) stay
    // until the day is over: the tenant still sees this morning's backup after pressing Back
    // up now at noon, and a policy run hourly starts restic once an hour, not twice. "Keep
    // the last N" is applied at once, and so is everything when space must be freed now.
    const today = calendarDay(new Date(now), zone)
    const deferred =
      !opts.pruneNow &&
      !(p.keepLast > 0) &&
      unprotected.every((s) => calendarDay(s.time, zone) === today)
        ? unprotected.length
        : 0
    const policyIds = deferred ? [] : unprotected.map((s) => s.id)
    const cutoff = now - SAFETY_KEEP_DAYS * 86_400_000
    const safetyIds = rows
      .filter((r) => r.kind === 'safety' && r.time.getTime() < cutoff)
      .map((r) => r.snapshotId)
    const ids = [...policyIds, ...safetyIds]
    // Forget and prune in one restic process when the daily prune is due.
    const prune =
      ids.length > 0 && (opts.pruneNow || (await pruneDue(deps.db, repo.repositoryId, zone)))
    if (ids.length)
      await unlockingRetry(
        () => runRestic(['forget', ...(prune ? ['--prune'] : []), ...ids], repo.env),
        repo,
      )
    await removeSnapshots(deps.db, t.dest.tenantId, t.dest.id, ids)
    if (prune) await markPruned(deps.db, repo.repositoryId)
    const spared = wouldGo.length - unprotected.length
    const parts = [
      !ids.length
        ? 'Nothing to remove.'
        : `Removed ${ids.length} old snapshot(s)${safetyIds.length ? ` (${safetyIds.length} safety copies older than ${SAFETY_KEEP_DAYS} days)` : ''}; ${prune ? 'their space was reclaimed.' : 'their space is reclaimed at the next daily prune.'}`,
    ]
    if (deferred)
      parts.push(
        `${deferred} earlier backup(s) from today stay until the day is over (your policy keeps one a day).`,
      )
    if (spared)
      parts.push(
        `Kept ${spared} older snapshot(s) because each holds the newest copy of a database.`,
      )
    await finishStage(deps.db, stage.id, 'success', { message: parts.join(' ') })
  } catch (err) {
    await finishStage(deps.db, stage.id, 'failed', { message: plainReason(err) })
    throw err
  }
}

/**
 * True when the panel's catalog of the repository holds exactly the snapshots the repository
 * does (one listing of `snapshots/` through the driver, no restic): only then may retention be
 * computed from it.
 */
async function catalogComplete(
  repo: OpenRepo,
  rows: { snapshotId: string }[],
  signal: AbortSignal,
): Promise<boolean> {
  const stored = new Set<string>()
  for await (const o of repo.driver.list('snapshots/', { signal }))
    stored.add(o.key.slice('snapshots/'.length))
  return stored.size === rows.length && rows.every((r) => stored.has(r.snapshotId))
}

/**
 * A run cut off with its destination gone leaves a lock restic proves stale but keeps: `unlock`
 * (stale locks only) and try once more.
 */
async function unlockingRetry<T>(fn: () => Promise<T>, repo: OpenRepo): Promise<T> {
  return fn().catch(async (err) => {
    if (!/unlock|locked/i.test(String(err?.message))) throw err
    await runRestic(['unlock'], repo.env)
    return fn()
  })
}

/**
 * Stored size and snapshot count of the repository after retention, for the admin's Tenants
 * page and quotas: the sizes of every object the destination holds for it and the number of
 * files under `snapshots/` (restic writes one per snapshot). A listing through the driver is
 * far cheaper than `restic stats`, which walks every snapshot's tree. The backup itself is
 * done, so a failure here is a warning in the log, never a failed run.
 */
export async function recordStats(deps: EngineDeps, t: Scope, repo: OpenRepo) {
  try {
    let storedBytes = 0
    let snapshotCount = 0
    for await (const o of repo.driver.list('', { signal: t.signal })) {
      storedBytes += o.size
      if (o.key.startsWith('snapshots/')) snapshotCount++
    }
    await setRepositoryStats(deps.db, repo.repositoryId, { storedBytes, snapshotCount })
  } catch (err) {
    await logRun(
      deps.db,
      t.runId,
      'warn',
      `${t.dest.name}: could not measure the stored size: ${plainReason(err)}`,
    )
  }
}
