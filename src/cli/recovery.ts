import { writeFileSync } from 'node:fs'
import type { Command, CliDeps } from './command.ts'
import { UsageError } from './io.ts'
import { tenantByName } from './tenants.ts'
import { auditCli } from './audit.ts'
import { destinationOf, waitFor } from './job-wait.ts'
import { latestRunOfJob, runStagesOf } from '../db/runs.ts'
import type { Tenant } from '../db/schema.ts'
import { requestRekey } from '../domain/rekey.ts'
import { recoveryKit } from '../engine/restic/recovery.ts'
import { sealedRecoveryKits } from '../engine/restic/escrow.ts'

/** `recovery-kit <tenant> --rotate`: queues a new repository password, optionally waits for it. */
async function rotate(deps: CliDeps, tenant: Tenant, opts: Record<string, any>) {
  const dest = await destinationOf(deps, tenant, opts.destination)
  const { job, created } = await requestRekey(deps.db, tenant.id, dest.id, 'cli')
  await auditCli(deps.db, 'repository.rekey', {
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
  const run = await latestRunOfJob(deps.db, tenant.id, job.id)
  const stages = run ? await runStagesOf(deps.db, run.id) : []
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
  await auditCli(deps.db, 'recovery.escrow', {
    details: { repositories: count, to: opts['seal-to'] },
  })
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
      const tenant = await tenantByName(deps.db, tenantName)
      if (opts.rotate) return rotate(deps, tenant, opts)
      const dest = await destinationOf(deps, tenant, opts.destination)
      // What the tenant's own page shows: for a copy of the host's storage, no credentials.
      const kit = await recoveryKit(deps, tenant, dest, { forAdmin: false })
      await auditCli(deps.db, 'recovery.view', { tenantId: tenant.id, target: dest.name })
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
