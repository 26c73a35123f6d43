import { join, posix } from 'node:path'
import type { Job } from '../db/schema.ts'
import { getTenant, listTenantDatabases } from '../db/tenants.ts'
import { getDestination } from '../db/destinations.ts'
import { createRun, finishRun, finishStage, logRun, startStage } from '../db/runs.ts'
import { dbConnOf } from '../domain/databases.ts'
import { loadDump } from './dumps.ts'
import { runAs, emptyDirAs } from './as-tenant.ts'
import { runAsFor, tenantWorkDir } from './isolation.ts'
import { openRepository, type EngineDeps } from './context.ts'
import { runRestic } from './restic.ts'
import { checkSnapshotId } from './snapshots.ts'
import { JobFailed, isPermanent, plainReason } from './failure.ts'

/** What to restore. Paths are absolute paths inside the snapshot, under the tenant's home. */
export type RestorePayload = {
  destinationId: number
  snapshot: string
  /** Empty: the whole home. */
  paths: string[]
  /** Restore this database's dump instead of files. */
  databaseId?: number
  /** 'inplace' (after a safety snapshot) or 'copy' (a new folder / a database under a new name). */
  mode: 'inplace' | 'copy'
  /** For 'copy': a new folder relative to the home, or the new database name. */
  newName?: string
  trigger?: 'manual' | 'cli' | 'api'
}

/** One attempt of a restore job, every file operation as the tenant's user. */
export async function runRestoreJob(deps: EngineDeps, job: Job, signal: AbortSignal): Promise<number> {
  const { db } = deps
  const p = job.payload as RestorePayload
  const tenant = getTenant(db, job.tenantId)
  const dest = getDestination(db, tenant.id, p.destinationId)
  const run = createRun(db, tenant.id, { kind: 'restore', trigger: p.trigger ?? 'manual', jobId: job.id, policyId: null })
  let stage = startStage(db, run.id, 'prepare', dest.id)
  try {
    checkSnapshotId(p.snapshot)
    const who = runAsFor(tenant)
    const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
    const repo = await openRepository(deps, tenant, dest, work, who, signal, { create: false })
    try {
      finishStage(db, stage.id, 'success', { message: `Repository on ${dest.name} opened.` })
      const home = tenant.homeDir
      const paths = p.paths.length ? p.paths : [home]
      for (const path of paths) {
        if (path !== home && !path.startsWith(home + '/')) throw new JobFailed(`“${path}” is outside your home folder.`, true)
        if (posix.normalize(path) !== path) throw new JobFailed(`“${path}” is not a plain path.`, true)
      }
      if (p.mode === 'inplace') {
        stage = startStage(db, run.id, 'safety-snapshot', dest.id)
        const safety = p.databaseId ? [join(work, 'dumps')] : paths
        let snapshotId: string | null = null
        await runRestic(['backup', '--json', '--host', tenant.name, '--tag', 'safety', '--tag', `run:${run.id}`, '--', ...safety], repo.env, {
          okCodes: [0, 3],
          onJson: (m) => m.message_type === 'summary' && (snapshotId = m.snapshot_id),
        })
        finishStage(db, stage.id, 'success', { snapshotId, message: `Safety snapshot ${String(snapshotId).slice(0, 8)} taken before restoring in place.` })
      }
      stage = startStage(db, run.id, p.databaseId ? 'restore-database' : 'restore-files', dest.id)
      if (p.databaseId) {
        const row = listTenantDatabases(db, tenant.id).find((d) => d.id === p.databaseId)
        if (!row) throw new JobFailed('That database is not assigned to you.', true)
        const name = p.mode === 'copy' ? p.newName! : row.name
        const conn = dbConnOf(deps.config.secretKey, row, name)
        const dumpPath = join(work, 'dumps', `${row.engine}-${row.name}.sql`)
        let loading: Promise<void> = Promise.resolve()
        const dumping = runRestic(['dump', p.snapshot, dumpPath], repo.env, {
          stdout: (s) => (loading = loadDump(conn, s, { workDir: work, runAs: who, create: p.mode === 'copy', signal })),
        })
        // Both sides at once: a load that fails early must not leave restic's rejection unheard.
        await Promise.all([dumping, Promise.resolve().then(() => loading)])
        finishStage(db, stage.id, 'success', { message: `Database ${row.name} restored ${p.mode === 'copy' ? `as ${name}` : 'in place'}.` })
      } else {
        const staging = join(work, 'restore', `run-${run.id}`)
        await runAs(who, 'mkdir', ['-p', '--', staging])
        const includes = paths.flatMap((path) => ['--include', path])
        await runRestic(['restore', p.snapshot, '--target', staging, ...includes], repo.env)
        const from = staging + home
        if (p.mode === 'inplace') await runAs(who, 'cp', ['-a', '--remove-destination', '--', `${from}/.`, `${home}/`])
        else {
          // One rename when work dir and home share a filesystem; mv copies across otherwise.
          // -T with a new name: an existing folder of that name is never merged into.
          await runAs(who, 'mv', ['-T', '--no-clobber', '--', from, join(home, p.newName!)])
          await runAs(who, 'test', ['-e', from]).then(
            () => Promise.reject(new Error(`A folder named “${p.newName}” already exists in your home.`)),
            () => undefined,
          )
        }
        await runAs(who, 'rm', ['-rf', '--', staging])
        const where = p.mode === 'inplace' ? 'in place' : `into ${p.newName}`
        finishStage(db, stage.id, 'success', { message: `Restored ${p.paths.length ? p.paths.length + ' path(s)' : 'everything'} ${where}.` })
      }
      await emptyDirAs(who, join(work, 'restore')).catch(() => {})
    } finally {
      await repo.close()
    }
    finishRun(db, run.id, 'success')
    logRun(db, run.id, 'info', 'Restore finished.')
    return run.id
  } catch (err) {
    finishStage(db, stage.id, 'failed', { message: plainReason(err) })
    finishRun(db, run.id, 'failed', { error: plainReason(err) })
    logRun(db, run.id, 'error', plainReason(err))
    throw new JobFailed(plainReason(err), isPermanent(err))
  }
}
