import { Hono } from 'hono'
import { Readable } from 'node:stream'
import { posix } from 'node:path'
import { getDestination, listDestinations } from '../db/destinations.ts'
import { listPolicies } from '../db/policies.ts'
import { findRepository } from '../db/repositories.ts'
import { listTenantDatabases } from '../db/tenants.ts'
import { requestRestore } from '../domain/jobs.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import { listDir, listSnapshots, openTar } from '../engine/snapshots.ts'
import { plainReason } from '../engine/failure.ts'
import { BrowsePage, RestorePage, TreeLevel } from '../../views/restore.tsx'
import { auditWeb } from './audit-trail.ts'
import { restoreFacts } from '../domain/audit-facts.ts'
import { type AppEnv, type Ctx, idParam, pageCtx, readForm, redirectTo, str, all, tenantOf } from './context.ts'

export const restoreRoutes = new Hono<AppEnv>()

function engineDeps(c: Ctx) {
  const { db, config, drivers } = c.get('deps')
  return { db, config, drivers }
}

/** A path the tenant may read from a snapshot: normal, absolute, inside their home. */
function homePath(c: Ctx, path: string): string {
  const home = tenantOf(c).homeDir
  if (posix.normalize(path) !== path || (path !== home && !path.startsWith(home + '/'))) throw new NotFoundError('That path')
  return path
}

async function snapshotOf(c: Ctx) {
  const tenant = tenantOf(c)
  const dest = getDestination(c.get('deps').db, tenant.id, idParam(c, 'dest'))
  const id = c.req.param('snap') ?? ''
  const snapshot = (await listSnapshots(engineDeps(c), tenant, dest)).find((s) => s.id === id)
  if (!snapshot) throw new NotFoundError('That snapshot')
  return { tenant, dest, snapshot, base: `/backups/restore/${dest.id}/${snapshot.id}` }
}

restoreRoutes.get('/', async (c) => {
  const tenant = tenantOf(c)
  const { db } = c.get('deps')
  const dests = listDestinations(db, tenant.id).filter((d) => findRepository(db, tenant.id, d.id)?.initializedAt)
  const destinations = await Promise.all(
    dests.map(async (d) => {
      try {
        return { id: d.id, name: d.name, snapshots: await listSnapshots(engineDeps(c), tenant, d) }
      } catch (err) {
        return { id: d.id, name: d.name, snapshots: [], error: `Could not list snapshots: ${plainReason(err)}` }
      }
    }),
  )
  const policyNames = new Map(listPolicies(db, tenant.id).map((p) => [p.id, p.name]))
  return c.html(<RestorePage ctx={pageCtx(c)} destinations={destinations} policyNames={policyNames} />)
})

async function browse(c: Ctx, errors: Record<string, string> = {}, status: 200 | 422 = 200) {
  const { tenant, dest, snapshot, base } = await snapshotOf(c)
  const home = tenant.homeDir
  const roots = snapshot.paths.includes(home) ? await listDir(engineDeps(c), tenant, dest, snapshot.id, home) : []
  const databases = listTenantDatabases(c.get('deps').db, tenant.id)
  return c.html(
    <BrowsePage ctx={pageCtx(c)} base={base} destName={dest.name} snapshot={snapshot} home={home} roots={roots} databases={databases} errors={errors} />,
    status,
  )
}

restoreRoutes.get('/:dest/:snap', (c) => browse(c))

restoreRoutes.get('/:dest/:snap/tree', async (c) => {
  const { tenant, dest, snapshot, base } = await snapshotOf(c)
  const path = homePath(c, c.req.query('path') ?? '')
  return c.html(<TreeLevel base={base} nodes={await listDir(engineDeps(c), tenant, dest, snapshot.id, path)} />)
})

restoreRoutes.get('/:dest/:snap/download', async (c) => {
  const { tenant, dest, snapshot } = await snapshotOf(c)
  const path = homePath(c, c.req.query('path') ?? '')
  let out: Readable
  try {
    out = await openTar(engineDeps(c), tenant, dest, snapshot.id, path)
  } catch (err) {
    throw new ConflictError(`The download could not start: ${plainReason(err)}`)
  }
  auditWeb(c, 'download', { target: `${snapshot.shortId}:${path}`, details: { destination: dest.name, snapshot: snapshot.id, path } })
  const name = `${tenant.name}-${snapshot.shortId}-${posix.basename(path)}.tar`.replace(/[^\w.-]/g, '_')
  c.header('Content-Type', 'application/x-tar')
  c.header('Content-Disposition', `attachment; filename="${name}"`)
  c.header('Cache-Control', 'no-store')
  return c.body(Readable.toWeb(out) as ReadableStream)
})

restoreRoutes.post('/:dest/:snap', async (c) => {
  const { tenant, dest, snapshot } = await snapshotOf(c)
  const form = await readForm(c)
  const isDb = str(form, 'what') === 'database'
  const request = {
    destinationId: dest.id,
    snapshot: snapshot.id,
    paths: isDb ? [] : all(form, 'paths').map((p) => homePath(c, p)),
    databaseId: isDb ? Number(str(form, 'database')) : undefined,
    mode: str(form, 'mode') === 'inplace' ? ('inplace' as const) : ('copy' as const),
    newName: str(form, 'newName'),
    trigger: 'manual' as const,
  }
  let jobId: number
  try {
    jobId = requestRestore(c.get('deps').db, tenant.id, request).id
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    return browse(c, err.errors, 422)
  }
  const database = isDb ? listTenantDatabases(c.get('deps').db, tenant.id).find((d) => d.id === request.databaseId)?.name : undefined
  auditWeb(c, 'restore.start', { target: snapshot.shortId, details: restoreFacts(dest.name, request, database, jobId) })
  c.get('deps').wake?.()
  return redirectTo(c, '/backups', { kind: 'ok', text: 'Restore queued: progress shows below.' })
})
