import type { Destination, Tenant } from '../../db/schema.ts'
import type { PolicyWithLinks } from '../../db/policies.ts'
import { getDestination } from '../../db/destinations.ts'
import type { Job, Trigger } from '../../db/job-payloads.ts'
import { finishStage, logRun, setRunProgress, startStage } from '../../db/runs.ts'
import { recordVerification } from '../../db/verifications.ts'
import { runAsFor, tenantWorkDir, type RunAs } from '../host/isolation.ts'
import { openRepository, type OpenRepo } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import { runRestic } from '../restic/restic.ts'
import { syncSnapshots } from '../restic/snapshots.ts'
import { catalogOf, latestComplete } from '../../db/snapshots.ts'
import {
  makeSandbox,
  openFolders,
  removeLeftoverSandboxes,
  removeSandbox,
  statAs,
} from '../host/sandbox.ts'
import { compareSample, listSnapshot } from '../restic/snapshot-listing.ts'
import { loadDumps, stageCursor } from './test-restore-dbs.ts'
import { damageReport, resticFailure } from '../restic/damage.ts'
import { formatBytes, formatDuration } from '../../units.ts'
import { plainReason } from '../restic/failure.ts'
import { withRun } from './run.ts'

export type VerifyResult = { destination: string; ok: boolean; message: string }

/** One destination of a test restore run. */
type Target = {
  tenant: Tenant
  policy: PolicyWithLinks
  dest: Destination
  runId: number
  who: RunAs
  work: string
  signal: AbortSignal
  step: number
  of: number
}

/**
 * The monthly (or on demand) verified restore of a policy: on each of its destinations, the
 * latest snapshot tagged `policy:<id>` is restored into a 0700 sandbox in the tenant's work dir
 * as the tenant (with restic's `--verify` re-reading every restored file), a sample of files is
 * compared with `restic ls`, and every database dump in it is loaded into a scratch database
 * whose tables are counted. Sandbox and scratch databases are removed whatever happens. Each
 * destination records a `verifications` row (before the run finishes) and a failure raises
 * `verify.failed`.
 */
export async function runTestRestore(
  deps: EngineDeps,
  tenant: Tenant,
  policy: PolicyWithLinks,
  opts: { destinationId?: number; job?: Job<'verify'> | null; trigger?: Trigger },
  signal = new AbortController().signal,
): Promise<{ runId: number; results: VerifyResult[] }> {
  const { db } = deps
  const spec = {
    kind: 'verify' as const,
    tenantId: tenant.id,
    trigger: opts.trigger ?? 'manual',
    job: opts.job ?? null,
    policy,
    signal,
    started: `Test restore of policy “${policy.name}” started.`,
  }
  return withRun(deps, spec, async (run) => {
    const wanted = policy.destinations.filter(
      (d) => !opts.destinationId || d.id === opts.destinationId,
    )
    const dests: Destination[] = []
    for (const d of wanted) dests.push(await getDestination(db, tenant.id, d.id))
    const results: VerifyResult[] = []
    const failure = (message: string) =>
      recordVerification(db, tenant.id, {
        policyId: policy.id,
        destinationId: null,
        runId: run.id,
        mode: 'restore',
        ok: false,
        durationMs: 0,
        message,
      })
    try {
      const who = runAsFor(tenant)
      const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
      // Sandboxes of an attempt that died with its runner (one job per tenant: none is in use).
      await removeLeftoverSandboxes(who, work)
      for (const [step, dest] of dests.entries()) {
        if (signal.aborted) break
        const of = dests.length
        const t = { tenant, policy, dest, runId: run.id, who, work, signal, step, of }
        results.push(await testRestoreOn(deps, t))
      }
    } catch (err) {
      // Isolation problems (no system user) stop the run before any destination.
      results.push({ destination: '—', ok: false, message: plainReason(err) })
      await failure(plainReason(err))
    }
    const failed = results.filter((r) => !r.ok)
    const none =
      dests.length === 0 ? `Policy “${policy.name}” has no destination to restore from.` : null
    const reason = none ?? failed.map((r) => `${r.destination}: ${r.message}`).join(' ')
    if (none) await failure(none)
    const ok = !none && !failed.length && !signal.aborted
    return {
      status: ok ? 'success' : 'failed',
      error: ok ? null : reason || 'The test restore was cancelled.',
      permanent: true,
      log: ok ? 'Test restore finished: every check passed.' : `Test restore failed: ${reason}`,
      results,
    }
  })
}

async function testRestoreOn(deps: EngineDeps, t: Target): Promise<VerifyResult> {
  const { db } = deps
  const cursor = stageCursor(db, t.runId, t.dest.id)
  await cursor.start('test-restore')
  const parts: string[] = []
  const details: Record<string, unknown> = {}
  let repo: OpenRepo | null = null
  let sandbox: string | null = null
  let snapshotId: string | null = null
  let restoreStart = 0
  let restoreMs = 0
  let failure: string | null = null
  const home = t.tenant.homeDir + '/'
  const inHome = (p: string) => (p.startsWith(home) ? p.slice(home.length) : p)
  const progress = async (text: string, part: number) => {
    await setRunProgress(db, t.runId, {
      stage: 'verify',
      destination: t.dest.name,
      text,
      percent: Math.round(((t.step + part) / t.of) * 100),
    })
  }
  try {
    await progress(`Opening the repository on ${t.dest.name}…`, 0)
    repo = await openRepository(deps, t.tenant, t.dest, t.work, t.who, t.signal, { create: false })
    const env = repo.env
    // A crashed prune's stale lock would otherwise fail the check (stale locks only go).
    await runRestic(['unlock'], env)
    await syncSnapshots(deps, t.tenant, t.dest, repo)
    const snap = latestComplete(await catalogOf(db, t.tenant.id, t.dest.id), {
      policyId: t.policy.id,
    })
    if (!snap)
      throw new Error(
        `There is no complete backup of policy “${t.policy.name}” on ${t.dest.name} to test yet.`,
      )
    snapshotId = snap.snapshotId
    const listing = await listSnapshot(env, snap.snapshotId, t.tenant.homeDir)
    Object.assign(details, {
      files: listing.files,
      bytes: listing.bytes,
      sampled: listing.sample.length,
    })
    sandbox = await makeSandbox(t.who, t.work, `verify-${t.runId}-${t.dest.id}`)
    await progress(`Restoring ${listing.files.toLocaleString('en')} files into a sandbox…`, 0.1)
    restoreStart = Date.now()
    const { code, stderr } = await runRestic(
      ['restore', snap.snapshotId, '--target', sandbox, '--verify'],
      env,
      { okCodes: [0, 1] },
    )
    restoreMs = Date.now() - restoreStart
    if (code !== 0) {
      const damage = damageReport(stderr, env, (p) =>
        inHome(p.startsWith(sandbox!) ? p.slice(sandbox!.length) : p),
      )
      throw new Error(
        damage ?? plainReason(repo.storageError() ?? new Error(resticFailure(stderr, env))),
      )
    }
    const restored = `Restored ${listing.files.toLocaleString('en')} files (${formatBytes(listing.bytes)}) in ${formatDuration(restoreMs)}`
    await finishStage(db, cursor.id, 'success', {
      snapshotId,
      bytes: listing.bytes,
      message: `${restored} from snapshot ${snap.snapshotId.slice(0, 8)} into a sandbox; restic re-read every restored file and its content matches.`,
    })
    parts.push(restored)

    await cursor.start('compare-files')
    await progress('Comparing files with the snapshot listing…', 0.7)
    // Folders restored without search permission would hide their files from the comparison.
    await openFolders(t.who, sandbox)
    const root = sandbox
    const stats = await statAs(
      t.who,
      listing.sample.map((f) => root + f.path),
    )
    const bad = compareSample(listing.sample, stats, inHome)
    if (bad.length) {
      throw new Error(
        `${bad.length} of ${listing.sample.length} sampled files differ from the snapshot listing: ${bad.slice(0, 3).join('; ')}${bad.length > 3 ? '; …' : ''}.`,
      )
    }
    const matched = `${listing.sample.length} sampled files match`
    await finishStage(db, cursor.id, 'success', {
      message: `${matched} the snapshot listing (present, same size and permissions).`,
    })
    parts.push(matched)

    details.tables = await loadDumps(deps, t, cursor, {
      env,
      snapshot: snap.snapshotId,
      dumps: listing.dumps,
      parts,
      progress,
    })
  } catch (err) {
    failure = plainReason(err)
    await finishStage(db, cursor.id, 'failed', { message: failure })
    await logRun(db, t.runId, 'error', `${t.dest.name}: ${failure}`)
  } finally {
    if (restoreStart && !restoreMs) restoreMs = Date.now() - restoreStart
    if (sandbox) failure = await cleanup(deps, t, sandbox, failure)
    await repo?.close()
  }
  const ok = failure === null
  const message = ok ? `${parts.join('; ')}.` : failure!
  if (!t.signal.aborted)
    await recordVerification(db, t.tenant.id, {
      policyId: t.policy.id,
      destinationId: t.dest.id,
      runId: t.runId,
      mode: 'restore',
      snapshotId,
      ok,
      durationMs: restoreMs,
      message,
      details,
    })
  return { destination: t.dest.name, ok, message }
}

/** Removes the sandbox; a sandbox left behind is itself a failure of the verification. */
async function cleanup(
  deps: EngineDeps,
  t: Target,
  sandbox: string,
  failure: string | null,
): Promise<string | null> {
  const stage = await startStage(deps.db, t.runId, 'cleanup', t.dest.id)
  try {
    await removeSandbox(t.who, sandbox)
    await finishStage(deps.db, stage.id, 'success', { message: 'Sandbox removed.' })
    return failure
  } catch (err) {
    await finishStage(deps.db, stage.id, 'failed', { message: plainReason(err) })
    return failure ? `${failure} ${plainReason(err)}` : plainReason(err)
  }
}
