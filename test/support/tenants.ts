import { execFileSync } from 'node:child_process'
import { chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createTenant } from '../../src/domain/tenants.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { newPolicyInput, savePolicy } from '../../src/domain/policies.ts'
import { claimJob, getJob } from '../../src/db/jobs.ts'
import { createRun } from '../../src/db/runs.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { lookupUser } from '../../src/engine/host/isolation.ts'
import type { Deps } from '../../src/web/context.ts'
import { PASSWORD } from '../helpers.ts'

/** Backups run as the tenant's system user, which needs root to create. */
export function rootAvailable(): boolean {
  if (process.getuid?.() === 0) return true
  if (process.env.CI === 'true')
    throw new Error('CI=true but not running as root: tenant isolation tests need root')
  console.warn('\n*** SKIPPING backup engine tests: they create system users and need root ***\n')
  return false
}

const created: string[] = []

/** A tenant with a real system user and a home directory owned by it, holding `files`. */
export async function realTenant(
  deps: Deps,
  name: string,
  files: Record<string, string | Buffer> = {},
) {
  const user = `pt-${name}-${randomBytes(3).toString('hex')}`.slice(0, 30)
  const home = mkdtempSync(join(tmpdir(), `home-${name}-`))
  execFileSync('useradd', [
    '--system',
    '--no-create-home',
    '--home-dir',
    home,
    '--shell',
    '/usr/sbin/nologin',
    user,
  ])
  created.push(user)
  const ids = lookupUser(user)!
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(home, rel, '..'), { recursive: true })
    writeFileSync(join(home, rel), data)
  }
  execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, home])
  chownSync(home, ids.uid, ids.gid)
  const tenant = await createTenant(deps.db, {
    name,
    password: PASSWORD,
    homeDir: home,
    systemUser: user,
    timezone: 'UTC',
  })
  return { tenant, home, user, ...ids }
}

export function removeUsers(): void {
  for (const user of created.splice(0)) {
    try {
      execFileSync('userdel', [user])
    } catch {
      // already gone
    }
  }
}

export async function localDestination(
  deps: Deps,
  tenantId: number,
  folder = 'repo',
  name = 'Local',
) {
  return saveDestination(
    { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
    tenantId,
    'local',
    null,
    {
      name,
      settings: { folder },
    },
  )
}

export async function policy(
  deps: Deps,
  tenantId: number,
  destinationIds: number[],
  extra: Partial<ReturnType<typeof newPolicyInput>> = {},
) {
  return savePolicy(deps.db, tenantId, null, {
    ...newPolicyInput('UTC'),
    name: 'Nightly',
    destinationIds,
    ...extra,
  })
}

/** Polls a job until it is done or failed (or `timeoutMs` passes). */
export async function waitJob(deps: Deps, tenantId: number, jobId: number, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs
  for (;;) {
    const job = await getJob(deps.db, tenantId, jobId)
    if (job.status === 'done' || job.status === 'failed') return job
    if (Date.now() > end)
      throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms: ${job.lastError}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Back up now on a policy, claimed by `owner` as a runner would (a minute's lease) and its run
 * started: a backup in progress, with the test standing in for the runner.
 */
export async function runningBackup(
  deps: Deps,
  tenantId: number,
  policyId: number,
  policyName: string,
  owner = 'test-runner',
) {
  const { job } = await requestBackup(deps.db, tenantId, policyId, 'manual')
  const claimed = await claimJob(deps.db, owner, 60_000)
  if (claimed?.id !== job.id)
    throw new Error(`the runner claimed job ${claimed?.id}, not ${job.id}`)
  const run = await createRun(deps.db, tenantId, {
    kind: 'backup',
    trigger: 'manual',
    jobId: job.id,
    policyId,
    policyName,
  })
  return { job, run }
}

/** Backs a policy up once on a runner of its own, stopped afterwards; the job as it ended. */
export async function backUpOnce(
  deps: Deps,
  tenantId: number,
  policyId: number,
  timeoutMs = 120_000,
) {
  const runner = startRunner({
    db: deps.db,
    handlers: jobHandlers(deps),
    pollMs: 50,
    onError: () => {},
  })
  try {
    const { job } = await requestBackup(deps.db, tenantId, policyId, 'manual')
    runner.wake()
    return await waitJob(deps, tenantId, job.id, timeoutMs)
  } finally {
    await runner.stop()
  }
}
