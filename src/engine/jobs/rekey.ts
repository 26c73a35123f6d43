import { randomBytes } from 'node:crypto'
import type { Destination, Run, Tenant } from '../../db/schema.ts'
import type { Job, Trigger } from '../../db/job-payloads.ts'
import { getTenant } from '../../db/tenants.ts'
import { getDestination } from '../../db/destinations.ts'
import { findRepository, setRepositoryPassword } from '../../db/repositories.ts'
import { ADD_KEY_STAGE, keysOfEarlierChanges } from '../../db/repository-keys.ts'
import { finishStage, logRun, startStage } from '../../db/runs.ts'
import { audit } from '../../db/audit.ts'
import { JobFailed, isPermanent } from '../../errors.ts'
import type { EngineDeps } from '../deps.ts'
import { runAsFor, tenantWorkDir } from '../host/isolation.ts'
import { openRepository, type OpenRepo } from '../restic/repository.ts'
import { addKey, currentKey, listKeys, removeKey } from '../restic/keys.ts'
import { plainReason } from '../restic/failure.ts'
import { withRun, type RunOutcome } from './run.ts'

/** Said when the new password is stored but an old key is still there. */
export const OLD_KEY_KEPT =
  'The new password is saved and works, but the old key could not be removed, so the old password still opens the repository. Change the password again to remove it.'

/**
 * Gives the tenant's repository on `dest` a new random password: adds a restic key for it,
 * proves the new password opens the repository, only then stores it (sealed), and finally
 * removes the old key (and any key an earlier, unfinished change left behind). A failure before
 * the new password is stored keeps the old one stored and working, and the added key is removed
 * when possible. A failed removal of the old key ends the run `partial` with OLD_KEY_KEPT.
 * Passwords never reach logs, stages or the audit log: only restic key ids do.
 */
export async function changeRepositoryPassword(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  opts: { job?: Job<'rekey'> | null; trigger?: Trigger; signal?: AbortSignal } = {},
): Promise<RunOutcome & { runId: number }> {
  const signal = opts.signal ?? new AbortController().signal
  const spec = {
    kind: 'rekey' as const,
    tenantId: tenant.id,
    trigger: opts.trigger ?? 'manual',
    job: opts.job ?? null,
    policy: null,
    signal,
    started: `Changing the password of the repository on “${dest.name}”.`,
  }
  let runId = 0
  try {
    const result = await withRun(deps, spec, async (run) => {
      runId = run.id
      const who = runAsFor(tenant)
      const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
      const repo = await openRepository(deps, tenant, dest, work, who, signal, {
        create: false,
        clearLocks: Boolean(opts.job?.lastError?.startsWith('interrupted')),
      })
      try {
        return await rotate(deps, tenant, dest, run, repo, work)
      } finally {
        await repo.close()
      }
    })
    const said = { success: 'changed', partial: 'old key kept', failed: 'failed' }
    await record(deps, tenant, dest, result.runId, said[result.status])
    return result
  } catch (err) {
    await record(deps, tenant, dest, runId, 'failed')
    throw err
  }
}

async function record(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  run: number,
  result: string,
) {
  await audit(deps.db, {
    actor: 'runner',
    tenantId: tenant.id,
    action: 'repository.rekey',
    target: dest.name,
    details: { run, result },
  })
}

async function rotate(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  run: Run,
  repo: OpenRepo,
  work: string,
): Promise<RunOutcome> {
  const { db, config } = deps
  const stored = (await findRepository(db, tenant.id, dest.id))!
  const password = randomBytes(24).toString('base64url')
  const withNew = { ...repo.env, password }

  // 1. Add a key for the new password (the old one keeps working), 2. prove the new password
  // opens the repository, 3. only then store it. Any failure here leaves the old one stored.
  let stage = await startStage(db, run.id, ADD_KEY_STAGE, dest.id)
  let oldKey = ''
  let addedKey: string | undefined
  try {
    const keys = await listKeys(repo.env)
    oldKey = keys.find((k) => k.current)?.id ?? ''
    if (!oldKey) throw new Error('restic did not say which key opens the repository.')
    const before = new Set(keys.map((k) => k.id))
    await addKey(repo.env, password, work)
    const added = (await listKeys(repo.env)).filter((k) => !before.has(k.id))
    addedKey = added.length === 1 ? added[0]!.id : undefined
    await finishStage(db, stage.id, 'success', {
      message: 'Added a key for the new password; the old password still works.',
      details: { replacedKey: oldKey, ...(addedKey ? { addedKey } : {}) },
    })
    await logRun(
      db,
      run.id,
      'info',
      `Added key ${addedKey ?? '(id unknown)'} beside key ${oldKey}.`,
    )
    stage = await startStage(db, run.id, 'check-new-password', dest.id)
    const opened = await currentKey(withNew)
    if (addedKey && opened !== addedKey)
      throw new Error(`The new password opened key ${opened}, not the key just added.`)
    addedKey = opened
    await finishStage(db, stage.id, 'success', {
      message: 'The new password opens the repository.',
    })
    stage = await startStage(db, run.id, 'store-password', dest.id)
    await setRepositoryPassword(db, config.secretKey, stored, password)
    await finishStage(db, stage.id, 'success', {
      message: 'The panel uses the new password from now on.',
    })
  } catch (err) {
    const why = plainReason(repo.storageError() ?? err)
    await finishStage(db, stage.id, 'failed', { message: why })
    await dropAddedKey(deps, run, repo, addedKey)
    throw new JobFailed(
      `The password was not changed: ${why} The old password still works.`,
      isPermanent(repo.storageError() ?? err),
    )
  }
  await logRun(db, run.id, 'info', 'The new password is stored; the recovery kit shows it.')

  // 4. Remove the old key and any left behind by an earlier change that did not finish.
  stage = await startStage(db, run.id, 'remove-old-key', dest.id)
  const removed: string[] = []
  try {
    const present = new Set((await listKeys(withNew)).map((k) => k.id))
    const stale = [oldKey, ...(await keysOfEarlierChanges(db, tenant.id, dest.id))]
    for (const id of new Set(stale)) {
      if (id === addedKey || !present.has(id)) continue
      await removeKey(withNew, id)
      removed.push(id)
    }
  } catch (err) {
    const why = plainReason(repo.storageError() ?? err)
    await finishStage(db, stage.id, 'failed', { message: why, details: { removed } })
    await logRun(db, run.id, 'error', `Removing the old key failed: ${why}`)
    return { status: 'partial', error: OLD_KEY_KEPT, log: OLD_KEY_KEPT }
  }
  await finishStage(db, stage.id, 'success', {
    message: 'The old password no longer opens the repository.',
    details: { removed },
  })
  return {
    status: 'success',
    error: null,
    log: `Password changed: removed key ${removed.join(', ') || '(none left)'}; the old password no longer opens the repository.`,
  }
}

/** Best effort: a key whose password was never stored is of no use to anyone. */
async function dropAddedKey(deps: EngineDeps, run: Run, repo: OpenRepo, id: string | undefined) {
  if (!id) return
  try {
    await removeKey(repo.env, id)
    await logRun(deps.db, run.id, 'info', `Removed the unused new key ${id}.`)
  } catch (err) {
    await logRun(
      deps.db,
      run.id,
      'warn',
      `Could not remove the unused new key ${id}: ${plainReason(err)}`,
    )
  }
}

/** One attempt of a rekey job. */
export async function runRekeyJob(
  deps: EngineDeps,
  job: Job<'rekey'>,
  signal: AbortSignal,
): Promise<void> {
  const tenant = await getTenant(deps.db, job.tenantId)
  const dest = await getDestination(deps.db, tenant.id, job.payload.destinationId)
  const trigger = job.payload.trigger ?? 'manual'
  await changeRepositoryPassword(deps, tenant, dest, { job, trigger, signal })
}
