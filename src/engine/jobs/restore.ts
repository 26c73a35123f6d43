import { dirname, join, posix } from 'node:path'
import type { Destination, Tenant } from '../../db/schema.ts'
import type { Job, RestorePayload } from '../../db/job-payloads.ts'
import { getTenant } from '../../db/tenants.ts'
import { getDestination } from '../../db/destinations.ts'
import { finishStage, startStage } from '../../db/runs.ts'
import { runAs } from '../host/as-tenant.ts'
import { runAsFor, tenantWorkDir, type RunAs } from '../host/isolation.ts'
import { openRepository } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import { includePattern, runRestic } from '../restic/restic.ts'
import { checkSnapshotId, ensureIndex, findSnapshot } from '../restic/snapshots.ts'
import { JobFailed, isPermanent } from '../../errors.ts'
import { plainReason } from '../restic/failure.ts'
import { statAs } from '../host/sandbox.ts'
import { putBack } from '../host/put-back.ts'
import {
  makeStaging,
  removeLeftovers,
  removeStaging,
  stagingFor,
  type Staging,
} from './restore-staging.ts'
import { restoreDatabase } from './restore-db.ts'
import { listExisting, takeSafetySnapshot, type RestoreCtx } from './restore-safety.ts'
import { withRun, type RunOutcome } from './run.ts'

/**
 * One attempt of a restore job, every file operation as the tenant's user. A restore in place
 * first keeps what it overwrites as a safety snapshot and says where; a failed restore leaves
 * no staging copy and no database it created behind.
 */
export async function runRestoreJob(
  deps: EngineDeps,
  job: Job<'restore'>,
  signal: AbortSignal,
): Promise<number> {
  const p = job.payload
  const tenant = await getTenant(deps.db, job.tenantId)
  const dest = await getDestination(deps.db, tenant.id, p.destinationId)
  const spec = {
    kind: 'restore' as const,
    tenantId: tenant.id,
    trigger: p.trigger ?? 'manual',
    job,
    policy: null,
    signal,
  }
  const { runId } = await withRun(deps, spec, (run) =>
    restoreRun(deps, { tenant, dest, p, runId: run.id, signal }),
  )
  return runId
}

async function restoreRun(
  deps: EngineDeps,
  r: { tenant: Tenant; dest: Destination; p: RestorePayload; runId: number; signal: AbortSignal },
): Promise<RunOutcome> {
  const { db } = deps
  const { tenant, dest, p, signal } = r
  let stageId = (await startStage(db, r.runId, 'prepare', dest.id)).id
  let ctx: RestoreCtx | null = null
  let who: RunAs = null
  let staging: Staging | null = null
  try {
    checkSnapshotId(p.snapshot)
    who = runAsFor(tenant)
    const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
    await removeLeftovers(who, work, tenant.homeDir)
    const snap = await findSnapshot(deps, tenant, dest, p.snapshot)
    if (p.databaseId) await ensureIndex(deps, tenant, dest, snap)
    const repo = await openRepository(deps, tenant, dest, work, who, signal, { create: false })
    try {
      await finishStage(db, stageId, 'success', { message: `Repository on ${dest.name} opened.` })
      ctx = {
        deps,
        tenant,
        dest,
        runId: r.runId,
        snap,
        repo,
        work,
        who,
        signal,
        start: async (name) => {
          stageId = (await startStage(db, r.runId, name, dest.id)).id
        },
        finish: async (status, fields) => {
          await finishStage(db, stageId, status, fields)
        },
        safety: null,
      }
      if (p.databaseId) await restoreDatabase(ctx, { ...p, databaseId: p.databaseId })
      else {
        staging = await stagingFor(who, work, tenant.homeDir, r.runId)
        await restoreFiles(ctx, p, staging)
      }
    } finally {
      await repo.close()
    }
    return { status: 'success', error: null, log: 'Restore finished.' }
  } catch (err) {
    const reason = plainReason(err)
    const safety = ctx?.safety
    const text = safety ? `${reason} ${safety}` : reason
    await finishStage(db, stageId, 'failed', { message: reason })
    return { status: 'failed', error: text, permanent: isPermanent(err), log: text }
  } finally {
    if (staging) await removeStaging(db, r.runId, who, staging)
  }
}

async function restoreFiles(ctx: RestoreCtx, p: RestorePayload, staging: Staging): Promise<void> {
  const { who } = ctx
  const home = ctx.tenant.homeDir
  const paths = p.paths.length ? p.paths : [home]
  for (const path of paths) {
    if (path !== home && !path.startsWith(home + '/'))
      throw new JobFailed(`“${path}” is outside your home folder.`, true)
    if (posix.normalize(path) !== path) throw new JobFailed(`“${path}” is not a plain path.`, true)
  }
  const target = p.mode === 'copy' ? join(home, p.newName ?? '') : null
  if (target && (await statAs(who, [target]))[0]?.type !== 'missing') {
    throw new JobFailed(
      `A folder named “${p.newName}” already exists in your home: choose another name.`,
      true,
    )
  }
  // Before the staging folder exists: a staging folder in the home must not be in the copy.
  if (!target) await safetyCopy(ctx, paths, staging.list)
  await ctx.start('restore-files')
  await makeStaging(who, staging)
  const includes = paths.flatMap((path) => ['--include', includePattern(path)])
  await runRestic(['restore', ctx.snap.id, '--target', staging.dir, ...includes], ctx.repo.env)
  const from = staging.dir + home
  if ((await statAs(who, [from]))[0]?.type !== 'dir') {
    throw new JobFailed('Nothing you chose is in this backup.', true)
  }
  if (!target) {
    const put = await putBack(who, from, home, ctx.signal)
    const first = put.failed[0]
    if (first) {
      const more = put.failedCount > 1 ? ` (and ${put.failedCount - 1} more)` : ''
      // Not retried: a retry would first take a safety copy of a half-restored home.
      throw new JobFailed(
        `Some files could not be put back in your home: ${first.path}: ${first.reason}${more}.`,
        true,
      )
    }
  } else {
    // One rename (staging shares the home's filesystem, see stagingFor); mv copies otherwise.
    // -T with a new name: an existing folder of that name is never merged into.
    await runAs(who, 'mkdir', ['-p', '--', dirname(target)])
    await runAs(who, 'mv', ['-T', '--no-clobber', '--', from, target])
    await runAs(who, 'test', ['-e', from]).then(
      () =>
        Promise.reject(
          new JobFailed(`A folder named “${p.newName}” already exists in your home.`, true),
        ),
      () => undefined,
    )
  }
  const what = p.paths.length ? `${p.paths.length} path(s)` : 'everything'
  const where = target ? `into ${p.newName}` : 'in place'
  await ctx.finish('success', { message: `Restored ${what} ${where}.` })
}

/** Keeps what a restore in place overwrites: only the paths that exist now (none: skipped). */
async function safetyCopy(ctx: RestoreCtx, paths: string[], list: string): Promise<void> {
  await ctx.start('safety-snapshot')
  const existing = await listExisting(ctx.who, paths, list)
  if (!existing) {
    await ctx.finish('skipped', {
      message:
        'None of what you restore exists in your home now, so there was nothing to keep first.',
    })
    return
  }
  const label = safetyLabel(paths, ctx.tenant.homeDir)
  await takeSafetySnapshot(ctx, {
    args: ['--files-from-raw', list],
    extraTags: [],
    label: `Before restoring ${label}`,
    what: 'Your files as they were before this restore are kept as a safety copy',
    allowPartial: true,
  })
}

/** "your home folder", "public_html/index.php" or "3 paths". */
function safetyLabel(paths: string[], home: string): string {
  if (paths.length > 1) return `${paths.length} paths`
  const path = paths[0]!
  return path === home ? 'your home folder' : path.slice(home.length + 1)
}
