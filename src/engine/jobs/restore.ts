import { readdir } from 'node:fs/promises'
import { dirname, join, posix } from 'node:path'
import type { Destination, Tenant } from '../../db/schema.ts'
import type { Job, RestorePayload } from '../../db/job-payloads.ts'
import { getTenant } from '../../db/tenants.ts'
import { getDestination } from '../../db/destinations.ts'
import { finishStage, logRun, startStage } from '../../db/runs.ts'
import { runAs } from '../host/as-tenant.ts'
import { runAsFor, tenantWorkDir, type RunAs } from '../host/isolation.ts'
import { openRepository } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import { includePattern, runRestic } from '../restic/restic.ts'
import { checkSnapshotId, ensureIndex, findSnapshot } from '../restic/snapshots.ts'
import { JobFailed, isPermanent } from '../../errors.ts'
import { plainReason } from '../restic/failure.ts'
import { removeSandbox, statAs } from '../host/sandbox.ts'
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
  const tenant = getTenant(deps.db, job.tenantId)
  const dest = getDestination(deps.db, tenant.id, p.destinationId)
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
  let stageId = startStage(db, r.runId, 'prepare', dest.id).id
  let ctx: RestoreCtx | null = null
  let who: RunAs = null
  let staging: string | null = null
  try {
    checkSnapshotId(p.snapshot)
    who = runAsFor(tenant)
    const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
    await removeLeftovers(who, work)
    const snap = await findSnapshot(deps, tenant, dest, p.snapshot)
    if (p.databaseId) await ensureIndex(deps, tenant, dest, snap)
    const repo = await openRepository(deps, tenant, dest, work, who, signal, { create: false })
    try {
      finishStage(db, stageId, 'success', { message: `Repository on ${dest.name} opened.` })
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
        start: (name) => void (stageId = startStage(db, r.runId, name, dest.id).id),
        finish: (status, fields) => finishStage(db, stageId, status, fields),
        safety: null,
      }
      if (p.databaseId) await restoreDatabase(ctx, { ...p, databaseId: p.databaseId })
      else {
        staging = join(work, 'restore', `run-${r.runId}`)
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
    finishStage(db, stageId, 'failed', { message: reason })
    return { status: 'failed', error: text, permanent: isPermanent(err), log: text }
  } finally {
    if (staging) await removeStaging(db, r.runId, who, staging)
  }
}

async function restoreFiles(ctx: RestoreCtx, p: RestorePayload, staging: string): Promise<void> {
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
  if (!target) await safetyCopy(ctx, paths, staging)
  ctx.start('restore-files')
  await runAs(who, 'mkdir', ['-m', '0700', '--', staging])
  const includes = paths.flatMap((path) => ['--include', includePattern(path)])
  await runRestic(['restore', ctx.snap.id, '--target', staging, ...includes], ctx.repo.env)
  const from = staging + home
  if ((await statAs(who, [from]))[0]?.type !== 'dir') {
    throw new JobFailed('Nothing you chose is in this backup.', true)
  }
  if (!target) {
    await runAs(who, 'cp', ['-a', '--remove-destination', '--', `${from}/.`, `${home}/`]).catch(
      (err: Error) => {
        const why = err.message.replace(/^cp failed: (cp: )?/, '')
        // Not retried: a retry would first take a safety copy of a half-restored home.
        throw new JobFailed(`Some files could not be put back in your home: ${why}.`, true)
      },
    )
  } else {
    // One rename when work dir and home share a filesystem; mv copies across otherwise.
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
  ctx.finish('success', { message: `Restored ${what} ${where}.` })
}

/** Keeps what a restore in place overwrites: only the paths that exist now (none: skipped). */
async function safetyCopy(ctx: RestoreCtx, paths: string[], staging: string): Promise<void> {
  ctx.start('safety-snapshot')
  const list = `${staging}.paths`
  const existing = await listExisting(ctx.who, paths, list)
  if (!existing) {
    ctx.finish('skipped', {
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

/** Removes the staging copy and its path list, as the tenant; a failure is logged, not thrown. */
async function removeStaging(db: EngineDeps['db'], runId: number, who: RunAs, staging: string) {
  try {
    await runAs(who, 'rm', ['-f', '--', `${staging}.paths`])
    if ((await statAs(who, [staging]))[0]?.type !== 'missing') await removeSandbox(who, staging)
  } catch (err) {
    logRun(
      db,
      runId,
      'warn',
      `The staging copy ${staging} could not be removed: ${plainReason(err)}`,
    )
  }
}

/** Staging copies of attempts that died with their runner (one job per tenant: none is in use). */
async function removeLeftovers(who: RunAs, work: string): Promise<void> {
  const root = join(work, 'restore')
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (/^run-\d+\.paths$/.test(name)) await runAs(who, 'rm', ['-f', '--', join(root, name)])
    else if (/^run-\d+$/.test(name)) await removeSandbox(who, join(root, name))
  }
}
