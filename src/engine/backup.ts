import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Destination, Job, Tenant } from '../db/schema.ts'
import { getPolicy, type PolicyWithLinks } from '../db/policies.ts'
import { getTenant, listTenantDatabases } from '../db/tenants.ts'
import { getDestination, listDestinations } from '../db/destinations.ts'
import {
  createRun,
  finishRun,
  finishStage,
  logRun,
  setRunProgress,
  startStage,
} from '../db/runs.ts'
import { dbConnOf } from '../domain/databases.ts'
import { dumpDatabase } from './dumps.ts'
import { emptyDirAs, writeFileAs } from './as-tenant.ts'
import { runAsFor, tenantWorkDir, type RunAs } from './isolation.ts'
import { openRepository, type EngineDeps, type OpenRepo } from './context.ts'
import { recordStats, retention, skipRetention } from './retention.ts'
import { uploadLimitKiB } from '../db/jobs.ts'
import { EXIT_PARTIAL, runRestic } from './restic.ts'
import { plainReason, isPermanent, JobFailed } from './failure.ts'
import { reclaimForQuota } from './quota.ts'
import { raiseBackupResult } from '../notify/backup-result.ts'
import { INCOMPLETE_TAG, dbTag, recordSnapshot } from '../db/snapshots.ts'

type Outcome = {
  status: 'success' | 'partial' | 'failed'
  reason?: string
  permanent?: boolean
  bytes?: number
}

/**
 * One attempt of a backup job: dumps, then per destination a restic snapshot through the
 * bridge (recorded in the catalog, tagged with each good dump), and only when every stage of the
 * run succeeded, retention on each destination. Each stage records honest status;
 * the run is green only when every stage succeeded. Throws JobFailed when any stage failed.
 */
export async function runBackupJob(
  deps: EngineDeps,
  job: Job,
  signal: AbortSignal,
): Promise<number> {
  const { db } = deps
  const payload = job.payload as {
    policyId: number
    trigger?: 'schedule' | 'manual' | 'cli' | 'api'
  }
  const tenant = getTenant(db, job.tenantId)
  const policy = getPolicy(db, tenant.id, payload.policyId)
  const run = createRun(db, tenant.id, {
    kind: 'backup',
    trigger: payload.trigger ?? 'manual',
    jobId: job.id,
    policyId: policy.id,
  })
  logRun(db, run.id, 'info', `Backup of policy “${policy.name}” started (attempt ${job.attempts}).`)
  const outcomes: Outcome[] = []
  const scratch = mkdtempSync(join(tmpdir(), 'panel-run-'))
  try {
    const who = runAsFor(tenant)
    const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
    // Over a storage or snapshot limit even after applying retention: fail at once and for
    // good (retrying cannot fix it; keeping fewer snapshots or a higher limit can).
    const overQuota = await reclaimForQuota(deps, {
      tenant,
      policy,
      runId: run.id,
      work,
      who,
      signal,
    })
    if (overQuota) throw new JobFailed(overQuota, true)
    const sources = await prepareSources(deps, tenant, policy, run.id, work, who, signal, outcomes)
    const lists = writeLists(scratch, tenant, policy)
    const dests = policy.destinations.map((d) => getDestination(db, tenant.id, d.id))
    const stored: Stored[] = []
    try {
      for (const [i, dest] of dests.entries()) {
        if (signal.aborted) break
        const target = {
          tenant,
          policy,
          dest,
          runId: run.id,
          work,
          who,
          signal,
          sources,
          lists,
          index: i,
          of: dests.length,
          retryAfterCrash: Boolean(job.lastError?.startsWith('interrupted')),
        }
        const { outcome, repo } = await backupTo(deps, target)
        outcomes.push(outcome)
        if (repo) stored.push({ target, repo })
      }
      // Retention only after a run in which every stage succeeded: a failed dump or an
      // incomplete snapshot anywhere in the policy keeps every older snapshot everywhere.
      const bad = outcomes.find((o) => o.status !== 'success')
      for (const { target, repo } of stored) {
        if (bad || signal.aborted) {
          skipRetention(
            deps,
            target,
            bad
              ? `${bad.status === 'partial' ? 'a stage was incomplete' : 'a stage failed'} in this run`
              : 'the run was stopped',
          )
        } else {
          try {
            await retention(deps, target, repo)
          } catch (err) {
            const reason = `${target.dest.name}: retention failed: ${plainReason(repo.storageError() ?? err)}`
            logRun(db, run.id, 'error', reason)
            outcomes.push({ status: 'failed', reason, permanent: false })
          }
        }
        if (!signal.aborted) await recordStats(deps, target, repo)
      }
    } finally {
      for (const { repo } of stored) await repo.close()
    }
  } catch (err) {
    outcomes.push({ status: 'failed', reason: plainReason(err), permanent: isPermanent(err) })
    logRun(db, run.id, 'error', plainReason(err))
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  const failed = outcomes.filter((o) => o.status === 'failed')
  const bytes = outcomes.reduce((n, o) => n + (o.bytes ?? 0), 0)
  const status = failed.length
    ? 'failed'
    : outcomes.some((o) => o.status === 'partial')
      ? 'partial'
      : 'success'
  const reason =
    failed
      .map((o) => o.reason)
      .filter(Boolean)
      .join(' ') ||
    outcomes.find((o) => o.reason)?.reason ||
    null
  finishRun(db, run.id, status, { error: status === 'success' ? null : reason, bytes })
  logRun(db, run.id, status === 'failed' ? 'error' : 'info', `Backup finished: ${status}.`)
  // A cut-off attempt (runner stopping, lease lost) is retried, not reported.
  if (!signal.aborted) {
    const final =
      !failed.length || failed.every((o) => o.permanent) || job.attempts >= job.maxAttempts
    raiseBackupResult(deps, {
      tenantId: tenant.id,
      runId: run.id,
      jobId: job.id,
      policy,
      status,
      reason,
      bytes,
      final,
    })
  }
  if (failed.length)
    throw new JobFailed(
      reason ?? 'The backup failed.',
      failed.every((o) => o.permanent),
    )
  return run.id
}

/** Database dumps and the panel-settings file go into the work dir, inside the snapshot. */
async function prepareSources(
  deps: EngineDeps,
  tenant: Tenant,
  policy: PolicyWithLinks,
  runId: number,
  work: string,
  who: RunAs,
  signal: AbortSignal,
  outcomes: Outcome[],
): Promise<Sources> {
  const dumps = join(work, 'dumps')
  await emptyDirAs(who, dumps)
  const assigned = listTenantDatabases(deps.db, tenant.id)
  const tags: string[] = []
  for (const link of policy.databases) {
    const row = assigned.find((d) => d.id === link.id)!
    const stage = startStage(deps.db, runId, `dump:${row.name}`)
    try {
      const { bytes } = await dumpDatabase(
        dbConnOf(deps.config.secretKey, row),
        join(dumps, `${row.engine}-${row.name}.sql`),
        { workDir: work, runAs: who, signal },
      )
      finishStage(deps.db, stage.id, 'success', { bytes, message: `Dumped ${row.name}.` })
      tags.push(dbTag(row.engine, row.name))
    } catch (err) {
      finishStage(deps.db, stage.id, 'failed', { message: plainReason(err) })
      logRun(deps.db, runId, 'error', `Dump of ${row.name} failed: ${plainReason(err)}`)
      outcomes.push({
        status: 'failed',
        reason: `Dump of ${row.name} failed: ${plainReason(err)}`,
        permanent: false,
      })
      // The snapshot is still taken (the files are good), marked so it is never `latest`.
      if (!tags.includes(INCOMPLETE_TAG)) tags.unshift(INCOMPLETE_TAG)
    }
  }
  if (policy.includePanelSettings)
    await writeFileAs(who, join(dumps, 'panel-settings.json'), panelSettings(deps, tenant))
  const paths = policy.includeHome ? [tenant.homeDir] : []
  if (policy.databases.length || policy.includePanelSettings) paths.push(dumps)
  return { paths, tags, complete: !tags.includes(INCOMPLETE_TAG) }
}

/** What goes into each snapshot of the run: paths, extra tags (`db:…`, `incomplete`). */
type Sources = { paths: string[]; tags: string[]; complete: boolean }
type Stored = { target: Target; repo: OpenRepo }

/** The tenant's destinations and policies, without any secret, to rebuild their setup. */
function panelSettings(deps: EngineDeps, tenant: Tenant): string {
  const destinations = listDestinations(deps.db, tenant.id).map((d) => ({
    name: d.name,
    type: d.type,
    settings: d.settings,
  }))
  return JSON.stringify(
    { tenant: tenant.name, exportedAt: new Date().toISOString(), destinations },
    null,
    2,
  )
}

/** Exclude patterns and (when the policy narrows the home) the include list, as files. */
function writeLists(scratch: string, tenant: Tenant, policy: PolicyWithLinks) {
  chmodSync(scratch, 0o755)
  const exclude = join(scratch, 'exclude')
  writeFileSync(exclude, policy.excludeGlobs.join('\n') + '\n', { mode: 0o644 })
  let include: string | null = null
  if (policy.includeHome && policy.includeGlobs.length) {
    include = join(scratch, 'include')
    writeFileSync(
      include,
      policy.includeGlobs.map((g) => `${tenant.homeDir}/${g}`).join('\n') + '\n',
      { mode: 0o644 },
    )
  }
  return { exclude, include }
}

type Target = {
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
async function backupTo(
  deps: EngineDeps,
  t: Target,
): Promise<{ outcome: Outcome; repo: OpenRepo | null }> {
  const { db } = deps
  const stage = startStage(db, t.runId, 'snapshot', t.dest.id)
  let repo: OpenRepo | null = null
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
    const limit = uploadLimitKiB(db)
    const tags = [`policy:${t.policy.id}`, `run:${t.runId}`, ...t.sources.tags]
    const startedAt = new Date()
    const args = [
      ...(limit ? ['--limit-upload', String(limit)] : []),
      'backup',
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
        if (m.message_type === 'status' && Date.now() - last > 500) {
          last = Date.now()
          setRunProgress(db, t.runId, {
            stage: 'snapshot',
            destination: t.dest.name,
            percent: Math.round(((t.index + (m.percent_done ?? 0)) / t.of) * 100),
            filesDone: m.files_done ?? 0,
            totalFiles: m.total_files ?? 0,
            bytesDone: m.bytes_done ?? 0,
            totalBytes: m.total_bytes ?? 0,
          })
        }
      },
    })
    const s = summary as Record<string, any> | null
    const bytes = Number(s?.data_added ?? 0)
    const snapshotId = s?.snapshot_id ? repo.fullId(String(s.snapshot_id)) : null
    if (snapshotId) {
      recordSnapshot(db, t.tenant.id, t.dest.id, {
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
      finishStage(db, stage.id, 'partial', { bytes, snapshotId, message, details: { unreadable } })
      logRun(
        db,
        t.runId,
        'warn',
        `${t.dest.name}: ${message} ${unreadable.slice(0, 20).join(', ')}`,
      )
      return { outcome: { status: 'partial', reason: `${t.dest.name}: ${message}`, bytes }, repo }
    }
    finishStage(db, stage.id, 'success', {
      bytes,
      snapshotId,
      message: `Snapshot ${snapshotId?.slice(0, 8)} stored on ${t.dest.name}.`,
    })
    return { outcome: { status: 'success', bytes }, repo }
  } catch (err) {
    const cause = repo?.storageError() ?? err
    const reason = `${t.dest.name}: ${plainReason(cause)}`
    finishStage(db, stage.id, 'failed', { message: plainReason(cause) })
    logRun(db, t.runId, 'error', reason)
    skipRetention(deps, t, 'the snapshot failed')
    await repo?.close()
    return { outcome: { status: 'failed', reason, permanent: isPermanent(cause) }, repo: null }
  }
}
