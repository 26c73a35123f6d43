import { writeFileSync } from 'node:fs'
import type { Command, CliDeps } from './command.ts'
import { UsageError } from './io.ts'
import { tenantByName } from './tenants.ts'
import { auditCli } from './audit.ts'
import { findDestinationByName, listDestinations } from '../db/destinations.ts'
import { getJob } from '../db/jobs.ts'
import { latestRunOfJob, runStagesOf } from '../db/runs.ts'
import type { Tenant } from '../db/schema.ts'
import { NotFoundError } from '../errors.ts'
import { requestRekey } from '../domain/rekey.ts'
import { recoveryKit } from '../engine/restic/recovery.ts'
import { sealedRecoveryKits } from '../engine/restic/escrow.ts'
import { startRunner } from '../runner/runner.ts'
import { jobHandlers } from '../runner/handlers.ts'

function destinationOf(deps: CliDeps, tenant: Tenant, name: string | undefined) {
  if (name) {
    const dest = findDestinationByName(deps.db, tenant.id, name)
    if (!dest) throw new NotFoundError(`Destination “${name}”`)
    return dest
  }
  const all = listDestinations(deps.db, tenant.id)
  if (all.length !== 1)
    throw new UsageError(
      `--destination is required (${all.map((d) => d.name).join(', ') || 'no destinations'})`,
    )
  return all[0]!
}

/** Runs jobs in this process until `jobId` is done or failed (works without `panel serve`). */
async function waitFor(deps: CliDeps, tenantId: number, jobId: number): Promise<void> {
  const handlers = jobHandlers(deps)
  const runner = startRunner({
    db: deps.db,
    handlers,
    concurrency: 1,
    pollMs: 100,
    heartbeatMs: 0, // a short-lived helper, not a runner /healthz should wait for
    onError: () => {},
  })
  try {
    for (;;) {
      const job = getJob(deps.db, tenantId, jobId)
      if (job.status === 'done' || job.status === 'failed') return
      if (job.status === 'queued' && job.attempts > 0 && job.lastError) {
        process.stderr.write(
          `panel: attempt ${job.attempts} failed, will retry: ${job.lastError}\n`,
        )
        return
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  } finally {
    await runner.stop()
  }
}

/** `recovery-kit <tenant> --rotate`: queues a new repository password, optionally waits for it. */
async function rotate(deps: CliDeps, tenant: Tenant, opts: Record<string, any>) {
  const dest = destinationOf(deps, tenant, opts.destination)
  const { job, created } = requestRekey(deps.db, tenant.id, dest.id, 'cli')
  auditCli(deps.db, 'repository.rekey', {
    tenantId: tenant.id,
    target: dest.name,
    details: { job: job.id, queued: created },
  })
  if (!opts.wait) {
    const status = created ? 'queued' : 'already queued'
    const out = { jobId: job.id, destination: dest.name, status }
    return void console.log(
      opts.json
        ? JSON.stringify(out)
        : `Password change of “${dest.name}” ${status} (job ${job.id}).`,
    )
  }
  await waitFor(deps, tenant.id, job.id)
  const run = latestRunOfJob(deps.db, tenant.id, job.id)
  const stages = run ? runStagesOf(deps.db, run.id) : []
  const result = {
    jobId: job.id,
    runId: run?.id ?? null,
    status: run?.status ?? 'queued',
    error: run?.error ?? null,
    stages: stages.map((s) => ({ name: s.name, status: s.status, message: s.message })),
  }
  if (opts.json) console.log(JSON.stringify(result, null, 2))
  else {
    console.log(`Run ${result.runId}: ${result.status}${result.error ? ` (${result.error})` : ''}`)
    for (const s of result.stages) console.log(`  ${s.name}: ${s.status} ${s.message ?? ''}`)
  }
  if (result.status !== 'success')
    throw new Error(result.error ?? `the password change ended ${result.status}`)
}

/** `recovery-kit --all --seal-to`: every tenant's kits, sealed with age, to a file or stdout. */
async function escrow(deps: CliDeps, opts: Record<string, any>) {
  if (!opts['seal-to'])
    throw new UsageError('--all prints only sealed kits: give --seal-to <age public key>')
  const { data, count } = await sealedRecoveryKits(deps, opts['seal-to'])
  if (opts.out) writeFileSync(opts.out, data, { mode: 0o600 })
  else process.stdout.write(data)
  auditCli(deps.db, 'recovery.escrow', { details: { repositories: count, to: opts['seal-to'] } })
  if (opts.out) console.error(`Sealed ${count} recovery kits to ${opts.out}.`)
}

export const recoveryCommands: Record<string, Command> = {
  'recovery-kit': {
    usage:
      'recovery-kit <tenant> [--destination <name>] [--rotate [--wait]] [--json] | recovery-kit --all --seal-to <age1…> [--out <file>]',
    options: {
      destination: { type: 'string' },
      json: { type: 'boolean' },
      rotate: { type: 'boolean' },
      wait: { type: 'boolean' },
      all: { type: 'boolean' },
      'seal-to': { type: 'string' },
      out: { type: 'string' },
    },
    async run(deps, [tenantName], opts) {
      if (opts.all) {
        if (tenantName || opts.rotate || opts.destination)
          throw new UsageError('--all takes no tenant, --destination or --rotate')
        return escrow(deps, opts)
      }
      if (opts['seal-to'] || opts.out) throw new UsageError('--seal-to and --out go with --all')
      const tenant = tenantByName(deps.db, tenantName)
      if (opts.rotate) return rotate(deps, tenant, opts)
      const dest = destinationOf(deps, tenant, opts.destination)
      // What the tenant's own page shows: for a copy of the host's storage, no credentials.
      const kit = recoveryKit(deps, tenant, dest, { forAdmin: false })
      auditCli(deps.db, 'recovery.view', { tenantId: tenant.id, target: dest.name })
      if (opts.json) {
        const { repository, password, env, command, note } = kit
        console.log(JSON.stringify({ repository, password, env, command, note }, null, 2))
      } else
        console.log(
          `Repository: ${kit.repository}\nPassword:   ${kit.password}\n\n${kit.command}\n\n${kit.note}`,
        )
    },
  },
}
