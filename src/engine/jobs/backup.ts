import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Destination, Tenant } from '../../db/schema.ts'
import type { Job } from '../../db/job-payloads.ts'
import { getPolicy, type PolicyWithLinks } from '../../db/policies.ts'
import { dbConnOf, getTenant, listTenantDatabases } from '../../db/tenants.ts'
import { getDestination, listDestinations } from '../../db/destinations.ts'
import { finishStage, logRun, setRunProgress, startStage } from '../../db/runs.ts'
import { INCOMPLETE_TAG, dbTag } from '../../db/snapshots.ts'
import { dumpDatabase } from '../host/dumps.ts'
import { emptyDirAs, runAs, writeFileAs } from '../host/as-tenant.ts'
import { runAsFor, tenantWorkDir, type RunAs } from '../host/isolation.ts'
import type { OpenRepo } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import { recordStats, retention, skipRetention } from './retention.ts'
import { JobFailed, isPermanent } from '../../errors.ts'
import { plainReason } from '../restic/failure.ts'
import { tallyWords } from '../restic/restic.ts'
import { reclaimForQuota } from './quota.ts'
import { withRun } from './run.ts'
import {
  backupTo,
  stepProgress,
  type Outcome,
  type Sources,
  type Target,
} from './backup-destination.ts'

/**
 * One attempt of a backup job: dumps, then per destination a restic snapshot through the
 * bridge (recorded in the catalog, tagged with each good dump), and only when every stage of the
 * run succeeded, retention on each destination. Each stage records honest status;
 * the run is green only when every stage succeeded. Throws JobFailed when any stage failed.
 */
export async function runBackupJob(
  deps: EngineDeps,
  job: Job<'backup'>,
  signal: AbortSignal,
): Promise<number> {
  const tenant = await getTenant(deps.db, job.tenantId)
  const policy = await getPolicy(deps.db, tenant.id, job.payload.policyId)
  const spec = {
    kind: 'backup' as const,
    tenantId: tenant.id,
    trigger: job.payload.trigger ?? 'manual',
    job,
    policy,
    signal,
    started: `Backup of policy “${policy.name}” started (attempt ${job.attempts}).`,
  }
  const { runId } = await withRun(deps, spec, async (run) => {
    const outcomes = await backupRun(deps, { job, tenant, policy, runId: run.id, signal })
    const failed = outcomes.filter((o) => o.status === 'failed')
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
    return {
      status,
      error: status === 'success' ? null : reason,
      bytes: outcomes.reduce((n, o) => n + (o.bytes ?? 0), 0),
      permanent: failed.every((o) => o.permanent),
      log: `Backup finished: ${status}.`,
    }
  })
  return runId
}

/** The stages of one backup run, each one's outcome in order; never throws. */
async function backupRun(
  deps: EngineDeps,
  r: {
    job: Job<'backup'>
    tenant: Tenant
    policy: PolicyWithLinks
    runId: number
    signal: AbortSignal
  },
): Promise<Outcome[]> {
  const { db } = deps
  const { tenant, policy, signal } = r
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
      runId: r.runId,
      work,
      who,
      signal,
    })
    if (overQuota) throw new JobFailed(overQuota, true)
    const sources = await prepareSources(deps, tenant, policy, r.runId, work, who, signal, outcomes)
    const lists = writeLists(scratch, tenant, policy)
    const dests: Destination[] = []
    for (const d of policy.destinations) dests.push(await getDestination(db, tenant.id, d.id))
    const stored: Stored[] = []
    try {
      for (const [i, dest] of dests.entries()) {
        if (signal.aborted) break
        const target = {
          tenant,
          policy,
          dest,
          runId: r.runId,
          work,
          who,
          signal,
          sources,
          lists,
          index: i,
          of: dests.length,
          retryAfterCrash: Boolean(r.job.lastError?.startsWith('interrupted')),
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
          await skipRetention(
            deps,
            target,
            bad
              ? `${bad.status === 'partial' ? 'a stage was incomplete' : 'a stage failed'} in this run`
              : 'the run was stopped',
          )
        } else {
          try {
            const text = `Applying retention on ${target.dest.name}: removing the backups your policy no longer keeps…`
            await setRunProgress(db, r.runId, stepProgress(target, text))
            await retention(deps, target, repo)
          } catch (err) {
            const reason = `${target.dest.name}: retention failed: ${plainReason(repo.storageError() ?? err)}`
            await logRun(db, r.runId, 'error', reason)
            outcomes.push({ status: 'failed', reason, permanent: false })
          }
        }
        if (!signal.aborted) {
          const text = `Checking what is stored on ${target.dest.name}…`
          await setRunProgress(db, r.runId, stepProgress(target, text))
          await recordStats(deps, target, repo)
        }
      }
    } finally {
      for (const { target, repo } of stored) {
        await logRun(
          db,
          r.runId,
          'info',
          `${target.dest.name}: ${tallyWords(repo.env.tally ?? [])}.`,
        )
        await repo.close()
      }
    }
  } catch (err) {
    outcomes.push({ status: 'failed', reason: plainReason(err), permanent: isPermanent(err) })
    await logRun(db, r.runId, 'error', plainReason(err))
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  return outcomes
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
  const settingsFile = join(dumps, 'panel-settings.json')
  // Unchanged settings keep their file (writeFileAs leaves identical content alone), and so its
  // time and the folder's: restic then neither rereads it nor stores a new tree for the folder.
  if (policy.includePanelSettings)
    await runAs(who, 'find', [dumps, '-mindepth', '1', '!', '-path', settingsFile, '-delete'])
  else await emptyDirAs(who, dumps)
  const assigned = await listTenantDatabases(deps.db, tenant.id)
  const tags: string[] = []
  for (const link of policy.databases) {
    const row = assigned.find((d) => d.id === link.id)!
    const stage = await startStage(deps.db, runId, `dump:${row.name}`)
    await setRunProgress(deps.db, runId, {
      stage: 'step',
      text: `Saving database ${row.name}…`,
      percent: null,
    })
    try {
      const { bytes } = await dumpDatabase(
        dbConnOf(deps.config.secretKey, row),
        join(dumps, `${row.engine}-${row.name}.sql`),
        { workDir: work, runAs: who, signal },
      )
      await finishStage(deps.db, stage.id, 'success', { bytes, message: `Dumped ${row.name}.` })
      tags.push(dbTag(row.engine, row.name))
    } catch (err) {
      await finishStage(deps.db, stage.id, 'failed', { message: plainReason(err) })
      await logRun(deps.db, runId, 'error', `Dump of ${row.name} failed: ${plainReason(err)}`)
      outcomes.push({
        status: 'failed',
        reason: `Dump of ${row.name} failed: ${plainReason(err)}`,
        permanent: false,
      })
      // The snapshot is still taken (the files are good), marked so it is never `latest`.
      if (!tags.includes(INCOMPLETE_TAG)) tags.unshift(INCOMPLETE_TAG)
    }
  }
  if (policy.includePanelSettings) {
    await writeFileAs(who, settingsFile, await panelSettings(deps, tenant))
  }
  const paths = policy.includeHome ? [tenant.homeDir] : []
  if (policy.databases.length || policy.includePanelSettings) paths.push(dumps)
  return { paths, tags, complete: !tags.includes(INCOMPLETE_TAG) }
}

type Stored = { target: Target; repo: OpenRepo }

/** The tenant's destinations and policies, without any secret, to rebuild their setup. */
async function panelSettings(deps: EngineDeps, tenant: Tenant): Promise<string> {
  // The tenant's own only: the host's storage settings are not the tenant's to restore or read.
  // No timestamp, so the file's content changes only when the settings do.
  const destinations = (await listDestinations(deps.db, tenant.id))
    .filter((d) => d.providerDestinationId === null)
    .map((d) => ({ name: d.name, type: d.type, settings: d.settings }))
  return JSON.stringify({ tenant: tenant.name, destinations }, null, 2)
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
