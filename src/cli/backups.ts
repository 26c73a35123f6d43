import type { Command, CliDeps } from './command.ts'
import { UsageError, printTable } from './io.ts'
import { tenantByName } from './tenants.ts'
import { listPolicies } from '../db/policies.ts'
import { listDestinations } from '../db/destinations.ts'
import { listTenantDatabases } from '../db/tenants.ts'
import { latestRunOfJob, runStagesOf } from '../db/runs.ts'
import { requestBackup } from '../domain/jobs.ts'
import { requestRestoreChecked } from '../domain/restore-request.ts'
import { latestComplete } from '../db/snapshots.ts'
import { requestVerify } from '../domain/verify.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import { listSnapshots, type Snapshot } from '../engine/restic/snapshots.ts'
import { runVerify } from '../engine/jobs/verify.ts'
import { auditCli } from './audit.ts'
import { destinationOf, waitFor } from './job-wait.ts'
import { restoreFacts } from '../domain/audit-facts.ts'

async function lastRunOf(deps: CliDeps, tenantId: number, jobId: number) {
  const run = await latestRunOfJob(deps.db, tenantId, jobId)
  if (!run) return null
  const stages = await runStagesOf(deps.db, run.id)
  const dests = new Map((await listDestinations(deps.db, run.tenantId)).map((d) => [d.id, d.name]))
  return {
    runId: run.id,
    status: run.status,
    error: run.error,
    snapshots: stages
      .filter((s) => s.name === 'snapshot')
      .map((s) => ({
        destination: dests.get(s.destinationId ?? 0) ?? null,
        status: s.status,
        snapshot: s.snapshotId,
        message: s.message,
      })),
    stages: stages.map((s) => ({
      name: s.name,
      destination: dests.get(s.destinationId ?? 0) ?? null,
      status: s.status,
      message: s.message,
    })),
  }
}

function report(result: Awaited<ReturnType<typeof lastRunOf>>, json: boolean, jobId: number) {
  if (json) console.log(JSON.stringify({ jobId, ...result }, null, 2))
  else if (result) {
    console.log(`Run ${result.runId}: ${result.status}${result.error ? ` (${result.error})` : ''}`)
    for (const s of result.stages)
      console.log(
        `  ${s.name}${s.destination ? ` [${s.destination}]` : ''}: ${s.status}${s.message ? ` ${s.message}` : ''}`,
      )
  }
  if (result && result.status !== 'success')
    throw new Error(result.error ?? `run ended ${result.status}`)
}

export const backupCommands: Record<string, Command> = {
  backup: {
    usage: 'backup <tenant> [--policy <name>] [--wait] [--json]',
    options: { policy: { type: 'string' }, wait: { type: 'boolean' }, json: { type: 'boolean' } },
    async run(deps, [tenantName], opts) {
      const tenant = await tenantByName(deps.db, tenantName)
      const policies = (await listPolicies(deps.db, tenant.id)).filter(
        (p) => !opts.policy || p.name === opts.policy,
      )
      if (!policies.length)
        throw new InputError({
          policy: opts.policy
            ? `No policy named “${opts.policy}”.`
            : `${tenant.name} has no policy yet.`,
        })
      for (const policy of policies) {
        const { job, created } = await requestBackup(deps.db, tenant.id, policy.id, 'cli')
        await auditCli(deps.db, 'backup.request', {
          tenantId: tenant.id,
          target: policy.name,
          details: { job: job.id, queued: created },
        })
        if (!opts.wait) {
          const out = {
            jobId: job.id,
            policy: policy.name,
            status: created ? 'queued' : 'already queued',
          }
          console.log(
            opts.json
              ? JSON.stringify(out)
              : `Backup of “${policy.name}” ${out.status} (job ${job.id}).`,
          )
          continue
        }
        await waitFor(deps, tenant.id, job.id)
        report(await lastRunOf(deps, tenant.id, job.id), Boolean(opts.json), job.id)
      }
    },
  },
  snapshots: {
    usage: 'snapshots <tenant> [--destination <name>] [--json]',
    options: { destination: { type: 'string' }, json: { type: 'boolean' } },
    async run(deps, [tenantName], opts) {
      const tenant = await tenantByName(deps.db, tenantName)
      const dests = opts.destination
        ? [await destinationOf(deps, tenant, opts.destination)]
        : await listDestinations(deps.db, tenant.id)
      const rows: (Snapshot & { destination: string })[] = []
      for (const dest of dests) {
        for (const s of await listSnapshots(deps, tenant, dest))
          rows.push({ destination: dest.name, ...s })
      }
      if (opts.json) console.log(JSON.stringify(rows, null, 2))
      else {
        // What `latest` means for restore and the API: the newest complete policy snapshot.
        const what = (r: Snapshot) =>
          r.kind === 'safety'
            ? 'safety copy'
            : r.kind === 'other'
              ? 'other'
              : r.complete
                ? 'backup'
                : 'incomplete backup'
        printTable(
          rows.map((r) => ({ ...r, id: r.shortId, kind: what(r), rowId: undefined })),
          ['destination', 'id', 'time', 'kind', 'tags', 'paths'],
        )
      }
    },
  },
  restore: {
    usage:
      'restore <tenant> <snapshot> [--destination <name>] [--path <p>]... [--database <db>] [--to <dir-or-db>] [--wait] [--json]',
    options: {
      destination: { type: 'string' },
      path: { type: 'string', multiple: true },
      database: { type: 'string' },
      to: { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    async run(deps, [tenantName, snapshot], opts) {
      const tenant = await tenantByName(deps.db, tenantName)
      if (!snapshot) throw new UsageError('give the snapshot id (see: panel snapshots <tenant>)')
      const dest = await destinationOf(deps, tenant, opts.destination)
      const row = opts.database
        ? (await listTenantDatabases(deps.db, tenant.id)).find((d) => d.name === opts.database)
        : undefined
      if (opts.database && !row)
        throw new InputError({
          database: `No database “${opts.database}” is assigned to ${tenant.name}.`,
        })
      const databaseId = row?.id
      // Fresh from restic (the catalog is synced on the way): `latest` must not miss a new backup.
      const snapshots = await listSnapshots(deps, tenant, dest)
      let snap
      if (snapshot === 'latest') {
        // A database: the newest policy snapshot holding its good dump; files: the newest complete one.
        snap = latestComplete(snapshots, row ? { database: `${row.engine}-${row.name}` } : {})
        if (!snap)
          throw new ConflictError(
            row
              ? `No backup on “${dest.name}” holds the database ${row.name} yet.`
              : `No complete backup on “${dest.name}” yet.`,
          )
      } else {
        const found = snapshots.filter((s) => s.id.startsWith(snapshot))
        if (found.length > 1)
          throw new UsageError(
            `“${snapshot}” matches ${found.length} snapshots: give more of the id`,
          )
        snap = found[0]
        if (!snap) throw new NotFoundError(`Snapshot “${snapshot}” on “${dest.name}”`)
      }
      const paths = ((opts.path as string[]) ?? []).map((p) =>
        p.startsWith('/') ? p : `${tenant.homeDir}/${p}`.replace(/\/+$/, ''),
      )
      const request = {
        destinationId: dest.id,
        snapshot: snap.id,
        paths,
        databaseId,
        mode: opts.to ? ('copy' as const) : ('inplace' as const),
        newName: opts.to,
        trigger: 'cli' as const,
      }
      const job = await requestRestoreChecked(deps, tenant, request)
      await auditCli(deps.db, 'restore.start', {
        tenantId: tenant.id,
        target: snap.shortId,
        details: restoreFacts(dest.name, request, opts.database, job.id),
      })
      if (!opts.wait)
        return void console.log(
          opts.json
            ? JSON.stringify({ jobId: job.id, status: 'queued' })
            : `Restore queued (job ${job.id}).`,
        )
      await waitFor(deps, tenant.id, job.id)
      report(await lastRunOf(deps, tenant.id, job.id), Boolean(opts.json), job.id)
    },
  },
  verify: {
    usage:
      'verify <tenant> [--policy <name>] [--restore] [--wait] [--destination <name>] [--subset <n%>] [--json]',
    options: {
      destination: { type: 'string' },
      subset: { type: 'string' },
      json: { type: 'boolean' },
      policy: { type: 'string' },
      restore: { type: 'boolean' },
      wait: { type: 'boolean' },
    },
    async run(deps, [tenantName], opts) {
      const tenant = await tenantByName(deps.db, tenantName)
      if (opts.subset && !/^\d{1,3}(\.\d+)?%$|^\d+\/\d+$/.test(opts.subset))
        throw new UsageError('--subset takes a percentage like 10% or n/m')
      if (opts.policy || opts.restore) {
        // Per policy, as jobs: a data check, or with --restore a test restore into a sandbox.
        if (opts.destination)
          throw new UsageError(
            '--destination applies only to the repository check without --policy/--restore',
          )
        const policies = (await listPolicies(deps.db, tenant.id)).filter(
          (p) => !opts.policy || p.name === opts.policy,
        )
        if (!policies.length)
          throw new InputError({
            policy: opts.policy
              ? `No policy named “${opts.policy}”.`
              : `${tenant.name} has no policy yet.`,
          })
        const mode = opts.restore ? 'restore' : 'check'
        const what = opts.restore ? 'Test restore' : 'Data check'
        for (const policy of policies) {
          const { job, created } = await requestVerify(deps.db, tenant.id, policy.id, mode, 'cli', {
            subset: opts.subset,
          })
          await auditCli(deps.db, 'verify.request', {
            tenantId: tenant.id,
            target: policy.name,
            details: { mode, job: job.id },
          })
          if (!opts.wait) {
            const out = {
              jobId: job.id,
              policy: policy.name,
              mode,
              status: created ? 'queued' : 'already queued',
            }
            console.log(
              opts.json
                ? JSON.stringify(out)
                : `${what} of “${policy.name}” ${out.status} (job ${job.id}).`,
            )
            continue
          }
          await waitFor(deps, tenant.id, job.id)
          report(await lastRunOf(deps, tenant.id, job.id), Boolean(opts.json), job.id)
        }
        return
      }
      const dest = opts.destination
        ? await destinationOf(deps, tenant, opts.destination)
        : undefined
      await auditCli(deps.db, 'verify.request', {
        tenantId: tenant.id,
        target: dest?.name ?? null,
        details: opts.subset ? { subset: opts.subset } : {},
      })
      const { results } = await runVerify(deps, tenant, {
        destinationId: dest?.id,
        subset: opts.subset,
        trigger: 'cli',
      })
      if (opts.json) console.log(JSON.stringify(results, null, 2))
      else
        for (const r of results)
          console.log(`${r.destination}: ${r.ok ? 'ok' : 'FAILED'} ${r.message}`)
      if (!results.length)
        throw new Error('There is no repository to verify yet: run a backup first.')
      if (results.some((r) => !r.ok)) throw new Error('verification failed')
    },
  },
}
