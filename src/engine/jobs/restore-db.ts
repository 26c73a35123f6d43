import { join } from 'node:path'
import type { Db } from '../../db/client.ts'
import type { Tenant, TenantDatabase } from '../../db/schema.ts'
import { dbTag, dumpPathIn } from '../../db/snapshots.ts'
import { dbConnOf, listTenantDatabases, type DbConn } from '../../db/tenants.ts'
import { databaseNameProblem } from '../../names.ts'
import { ConflictError, JobFailed, isPermanent } from '../../errors.ts'
import { emptyDirAs } from '../host/as-tenant.ts'
import type { EngineDeps } from '../deps.ts'
import {
  CreateDenied,
  databaseExists,
  dropDatabase,
  dumpDatabase,
  loadDump,
} from '../host/dumps.ts'
import { plainReason } from '../restic/failure.ts'
import { runAsFor, tenantWorkDir } from '../host/isolation.ts'
import { runRestic, type ResticEnv } from '../restic/restic.ts'
import { takeSafetySnapshot, type RestoreCtx } from './restore-safety.ts'
import type { Snapshot } from '../restic/snapshots.ts'

/** True when `name` is taken on the server of `row`, asked as the tenant's database user. */
export async function databaseNameTaken(
  deps: EngineDeps,
  tenant: Tenant,
  row: TenantDatabase,
  name: string,
): Promise<boolean> {
  const who = runAsFor(tenant)
  const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
  return databaseExists(dbConnOf(deps.config.secretKey, row), name, { workDir: work, runAs: who })
}

export const nameTaken = (name: string) =>
  `A database named ${name} already exists on the server: choose another name.`

/**
 * Restores the dump of one of the tenant's databases from `ctx.snap`: in place (after dumping
 * the live database into a safety snapshot; if that dump fails, nothing is touched), or into a
 * new database, which is dropped again if anything fails after this restore created it.
 * Failures that a retry cannot fix (bad or taken name, no dump, no right to create) are
 * permanent.
 */
export async function restoreDatabase(
  ctx: RestoreCtx,
  p: { databaseId: number; mode: 'inplace' | 'copy'; newName?: string },
): Promise<void> {
  const { deps, work, who, signal } = ctx
  const row = (await listTenantDatabases(deps.db, ctx.tenant.id)).find((d) => d.id === p.databaseId)
  if (!row) throw new JobFailed('That database is not assigned to you.', true)
  const copy = p.mode === 'copy'
  const name = copy ? (p.newName ?? '').trim() : row.name
  const problem = copy ? databaseNameProblem(name) : undefined
  if (problem) throw new JobFailed(`“${name}” cannot be a database name: ${problem}`, true)
  const dumpPath = await dumpPathIn(deps.db, ctx.snap, row)
  if (!dumpPath) {
    throw new JobFailed(
      `This backup holds no copy of the database ${row.name}: choose another backup.`,
      true,
    )
  }
  const key = deps.config.secretKey
  // Cleanup runs even after a cancel, so it gets no signal.
  const tools = { workDir: work, runAs: who }
  if (copy && (await databaseExists(dbConnOf(key, row), name, { ...tools, signal }))) {
    throw new JobFailed(`${nameTaken(name)} Nothing was changed.`, true)
  }
  if (!copy) await safetyCopy(ctx, row)
  await ctx.start('restore-database')
  const conn = dbConnOf(key, row, name)
  let created = false
  try {
    await streamDump(ctx.repo.env, ctx.snap.id, dumpPath, conn, {
      ...tools,
      signal,
      create: copy,
      onCreated: () => void (created = true),
    })
  } catch (err) {
    let why = `${row.name} could not be restored${copy ? ` as ${name}` : ''}: ${plainReason(err)}`
    // In place, a retry would first take a safety copy of a half-loaded database.
    let permanent = !copy || isPermanent(err)
    if (err instanceof CreateDenied) [why, permanent] = [createDenied(err, conn, row), true]
    else if (err instanceof ConflictError) [why, permanent] = [`${nameTaken(name)}`, true]
    if (created) {
      why += await dropDatabase(conn, tools).then(
        () => ` The new database ${name} was removed again.`,
        (e) =>
          ` The new database ${name} could not be removed (${plainReason(e)}): drop it by hand.`,
      )
    }
    throw new JobFailed(why, permanent)
  }
  await ctx.finish('success', {
    message: copy
      ? `Database ${row.name} restored as ${name}.`
      : `Database ${row.name} restored in place.`,
  })
}

/** Dumps the live database and keeps it as a safety snapshot; throws before any change if not. */
async function safetyCopy(ctx: RestoreCtx, row: TenantDatabase): Promise<void> {
  await ctx.start('safety-snapshot')
  const dumps = join(ctx.work, 'dumps')
  await emptyDirAs(ctx.who, dumps)
  try {
    const conn = dbConnOf(ctx.deps.config.secretKey, row)
    const file = join(dumps, `${row.engine}-${row.name}.sql`)
    await dumpDatabase(conn, file, { workDir: ctx.work, runAs: ctx.who, signal: ctx.signal })
  } catch (err) {
    throw new JobFailed(
      `Your database ${row.name} could not be copied before the restore, so nothing was restored and it is as it was: ${plainReason(err)}`,
      isPermanent(err),
    )
  }
  try {
    await takeSafetySnapshot(ctx, {
      args: ['--', dumps],
      extraTags: [dbTag(row.engine, row.name)],
      label: `Before restoring ${row.name}`,
      what: 'Your database as it was before this restore is kept as a safety copy',
      allowPartial: false,
    })
  } catch (err) {
    throw new JobFailed(
      `The safety copy of ${row.name} could not be stored, so nothing was restored and it is as it was: ${plainReason(err)}`,
      isPermanent(err),
    )
  } finally {
    // The copy is in the repository now (or the restore stops here): no second one on disk.
    await emptyDirAs(ctx.who, dumps).catch(() => {})
  }
}

/** `restic dump` piped into the database; the loader's reason wins (restic then sees a broken pipe). */
async function streamDump(
  env: ResticEnv,
  snapshot: string,
  path: string,
  conn: DbConn,
  opts: Parameters<typeof loadDump>[2],
): Promise<void> {
  let loading: Promise<void> = Promise.resolve()
  const dumping = runRestic(['dump', snapshot, path], env, {
    stdout: (out) => (loading = loadDump(conn, out, opts)),
  })
  const [dumped, loaded] = await Promise.allSettled([
    dumping,
    Promise.resolve().then(() => loading),
  ])
  if (loaded.status === 'rejected') throw loaded.reason
  if (dumped.status === 'rejected') throw dumped.reason
}

/** What the host must grant, in the words and syntax of the database's own engine. */
function createDenied(err: CreateDenied, conn: DbConn, row: TenantDatabase): string {
  const user = conn.username ?? '<user>'
  const start = `Your database user ${user} may not create databases.`
  if (conn.engine === 'postgresql') {
    const role = /^[a-z_][a-z0-9_$]*$/.test(user) ? user : `"${user.replace(/"/g, '""')}"`
    return `${start} Ask your host to run ALTER ROLE ${role} CREATEDB, or restore in place.`
  }
  // In GRANT, _ and % in a database name are wildcards.
  const escape = (s: string) => s.replace(/[_%\\]/g, (c) => `\\${c}`)
  const pattern = err.database.startsWith(`${row.name}_`)
    ? `${escape(row.name)}\\_%`
    : escape(err.database)
  const account = err.account ?? `'${user}'@'%'`
  return `${start} Ask your host to grant it CREATE (for example GRANT ALL ON \`${pattern}\`.* TO ${account}), or restore in place.`
}
