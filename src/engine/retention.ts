import type { Destination } from '../db/schema.ts'
import type { PolicyWithLinks } from '../db/policies.ts'
import { finishStage, logRun, startStage } from '../db/runs.ts'
import { markPruned, pruneDue, setRepositoryStats } from '../db/repositories.ts'
import type { EngineDeps, OpenRepo } from './context.ts'
import { runRestic } from './restic.ts'
import { plainReason } from './failure.ts'

/** What retention works on: one policy's snapshots in one destination's repository, for a run. */
export type Scope = {
  policy: PolicyWithLinks
  dest: Destination
  runId: number
  signal: AbortSignal
}

/** Records a retention stage that did not run, and why: nothing was deleted. */
export function skipRetention(deps: EngineDeps, t: Scope, why: string) {
  const stage = startStage(deps.db, t.runId, 'retention', t.dest.id)
  finishStage(deps.db, stage.id, 'skipped', {
    message: `Skipped because ${why}; nothing was deleted.`,
  })
}

/**
 * `forget` for this policy's snapshots only (restic always keeps the newest), then `prune` to
 * reclaim the space, at most once a day per repository: pruning rereads the index and costs
 * more than a no-change backup, and forgotten snapshots are already gone from listings.
 * `pruneNow` prunes whatever the date (a tenant over its storage limit needs the space back).
 */
export async function retention(
  deps: EngineDeps,
  t: Scope,
  repo: OpenRepo,
  opts: { pruneNow?: boolean } = {},
) {
  const stage = startStage(deps.db, t.runId, 'retention', t.dest.id)
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
    let removed = 0
    const forget = () =>
      runRestic(
        ['forget', '--json', '--tag', `policy:${p.id}`, '--group-by', '', ...keep],
        repo.env,
        {
          onJson: (m) => {
            for (const group of Array.isArray(m) ? m : [m]) removed += (group?.remove ?? []).length
          },
        },
      )
    await forget().catch(async (err) => {
      // A run cut off with its destination gone leaves a lock restic proves stale but keeps:
      // `unlock` (stale locks only) and try once more.
      if (!/unlock|locked/i.test(String(err?.message))) throw err
      await runRestic(['unlock'], repo.env)
      await forget()
    })
    let pruned = false
    if (removed && (opts.pruneNow || pruneDue(deps.db, repo.repositoryId))) {
      await runRestic(['prune'], repo.env)
      markPruned(deps.db, repo.repositoryId)
      pruned = true
    }
    const message = !removed
      ? 'Nothing to remove.'
      : `Removed ${removed} old snapshot(s); ${pruned ? 'their space was reclaimed.' : 'their space is reclaimed at the next daily prune.'}`
    finishStage(deps.db, stage.id, 'success', { message })
  } catch (err) {
    finishStage(deps.db, stage.id, 'failed', { message: plainReason(err) })
    throw err
  }
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
    setRepositoryStats(deps.db, repo.repositoryId, { storedBytes, snapshotCount })
  } catch (err) {
    logRun(
      deps.db,
      t.runId,
      'warn',
      `${t.dest.name}: could not measure the stored size: ${plainReason(err)}`,
    )
  }
}
