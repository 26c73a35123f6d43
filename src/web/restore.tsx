import { Hono } from 'hono'
import { Readable } from 'node:stream'
import { posix } from 'node:path'
import { getDestination, listDestinations } from '../db/destinations.ts'
import { listPolicies } from '../db/policies.ts'
import { findRepository } from '../db/repositories.ts'
import { listTenantDatabases } from '../db/tenants.ts'
import { requestRestoreChecked } from '../domain/restore-request.ts'
import { childrenOf, dumpKey, nodeAt, searchIndex } from '../db/snapshots.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import {
  DownloadLimitError,
  downloadHeaders,
  downloadTarget,
  openDatabaseDownload,
  openDownload,
  type Download,
} from '../engine/restic/download.ts'
import type { Destination, Tenant } from '../db/schema.ts'
import { ErrorPage } from '../../views/error.tsx'
import { toNode, type Snapshot } from '../engine/restic/snapshots.ts'
import {
  catalogForPage,
  indexForPage,
  snapshotForPage,
  syncJobKey,
  indexJobKey,
  waitingFor,
} from '../domain/snapshot-jobs.ts'
import {
  NotFoundYetPage,
  ReadingNote,
  ReadingPage,
  CatalogNote,
} from '../../views/restore-wait.tsx'
import { plainReason } from '../engine/restic/failure.ts'
import {
  BrowsePage,
  ConfirmPage,
  RestorePage,
  TreeFragment,
  type PostedRestore,
  type TreeView,
} from '../../views/restore.tsx'
import { dayTime, safeZone, snapshotWhen } from '../../views/restore-parts.tsx'
import { auditWeb } from './audit-trail.ts'
import { restoreFacts } from '../domain/audit-facts.ts'
import {
  type AppEnv,
  type Ctx,
  all,
  idParam,
  isHtmx,
  pageCtx,
  readForm,
  redirectTo,
  str,
  tenantOf,
} from './context.ts'

export const restoreRoutes = new Hono<AppEnv>()

function engineDeps(c: Ctx) {
  const { db, config, drivers } = c.get('deps')
  return { db, config, drivers }
}

/** A path the tenant may read from a snapshot: normal, absolute, inside their home. */
function homePath(c: Ctx, path: string): string {
  const home = tenantOf(c).homeDir
  if (posix.normalize(path) !== path || (path !== home && !path.startsWith(home + '/')))
    throw new NotFoundError('That path')
  return path
}

type Loaded = { tenant: Tenant; dest: Destination; snapshot: Snapshot; base: string }

/**
 * The snapshot named in the path, from the catalog only (never restic). An id the catalog does
 * not know yet answers a page that says the destination is being checked (a 404 meanwhile).
 */
async function snapshotOf(c: Ctx): Promise<Loaded | Response> {
  const tenant = tenantOf(c)
  const dest = await getDestination(c.get('deps').db, tenant.id, idParam(c, 'dest'))
  const id = c.req.param('snap') ?? ''
  if (!/^[0-9a-f]{64}$/.test(id)) throw new NotFoundError('That snapshot')
  const { snapshot, pending } = await snapshotForPage(engineDeps(c), tenant, dest, id)
  if (!snapshot) {
    if (!pending) throw new NotFoundError('That snapshot')
    if (pending.created) c.get('deps').wake?.()
    return c.html(
      <NotFoundYetPage
        ctx={pageCtx(c)}
        destId={dest.id}
        destName={dest.name}
        pending={pending}
        again={c.req.url}
      />,
      404,
    )
  }
  return { tenant, dest, snapshot, base: `/backups/restore/${dest.id}/${snapshot.id}` }
}

/**
 * The snapshot fresh from the catalog once its file index exists; else an index job is queued
 * and the answer is the page (or, to htmx, the tree's place) saying the file list is being read.
 */
async function indexed(
  c: Ctx,
  { tenant, dest, snapshot, base }: Loaded,
): Promise<Snapshot | Response> {
  const ready = await indexForPage(engineDeps(c), tenant, dest, snapshot.id)
  if (ready.snapshot) return ready.snapshot
  const { pending } = ready
  if (pending.created) c.get('deps').wake?.()
  const again = c.req.method === 'GET' ? c.req.url : base
  if (isHtmx(c) && c.req.method === 'GET')
    return c.html(<ReadingNote base={base} pending={pending} again={again} />)
  const title =
    snapshot.kind === 'safety'
      ? `Safety copy: before a restore on ${dayTime(snapshot.time, safeZone(tenant.timezone))}`
      : `Backup of ${snapshotWhen(snapshot.time, safeZone(tenant.timezone))}`
  return c.html(
    <ReadingPage
      ctx={pageCtx(c)}
      title={title}
      destName={dest.name}
      base={base}
      pending={pending}
      again={again}
    />,
  )
}

/** True for a plain absolute path strictly inside `home`. */
function underHome(home: string, path: string): boolean {
  return posix.normalize(path) === path && path.startsWith(home + '/')
}

/** A path inside the home that the snapshot's index holds. */
async function inSnapshot(c: Ctx, snap: Snapshot, home: string, path: string): Promise<boolean> {
  return underHome(home, path) && (await nodeAt(c.get('deps').db, snap.rowId, path)) !== undefined
}

/** The snapshot holds the home or something in it (a safety copy holds just what it saved). */
function holdsHome(snap: Snapshot, home: string): boolean {
  return snap.paths.some((p) => p === home || p.startsWith(home + '/'))
}

const SEARCH_LIMIT = 200

/**
 * What the Files section shows: the folder `dir` (the home by default) or the hits of `q` in the
 * whole snapshot, with `selected` kept ticked. A folder the snapshot does not hold is a 404 when
 * asked for by link (`strict`), and the home when it only rode along with a posted form.
 */
async function treeView(
  c: Ctx,
  loaded: Loaded,
  snap: Snapshot,
  o: { dir?: string; q?: string; selected: string[]; strict: boolean; error?: string },
): Promise<TreeView> {
  const { db } = c.get('deps')
  const home = loaded.tenant.homeDir
  let dir = (o.dir ?? '').replace(/(.)\/+$/, '$1') || home
  if (
    dir !== home &&
    !(underHome(home, dir) && (await nodeAt(db, snap.rowId, dir))?.type === 'dir')
  ) {
    if (o.strict) throw new NotFoundError('That folder')
    dir = home
  }
  const q = (o.q ?? '').trim().slice(0, 200)
  const inside = (n: { parent: string }) => n.parent === home || n.parent.startsWith(home + '/')
  const hits = q ? (await searchIndex(db, snap.rowId, q, SEARCH_LIMIT + 20)).filter(inside) : []
  const nodes = q ? hits.slice(0, SEARCH_LIMIT) : await childrenOf(db, snap.rowId, dir)
  const selected = []
  for (const p of new Set(o.selected)) if (await inSnapshot(c, snap, home, p)) selected.push(p)
  return {
    base: loaded.base,
    home,
    zone: safeZone(loaded.tenant.timezone),
    dir,
    q,
    nodes: nodes.map((n) => toNode(n)),
    searching: q !== '',
    truncated: hits.length > SEARCH_LIMIT,
    selected,
    error: o.error,
  }
}

/**
 * The browse page (or, to htmx, just the tree): from the file index only, so opening a folder or
 * searching never runs restic. `posted` brings back a form with its errors (422).
 */
async function browse(
  c: Ctx,
  loaded: Loaded,
  o: { dir?: string; q?: string; selected: string[]; posted?: PostedRestore },
) {
  const { tenant, dest, base } = loaded
  const { db } = c.get('deps')
  const snap = await indexed(c, loaded)
  if (snap instanceof Response) return snap
  const home = tenant.homeDir
  const hasHome = holdsHome(snap, home)
  const tree = await treeView(c, loaded, snap, {
    ...o,
    dir: hasHome ? o.dir : undefined,
    q: hasHome ? o.q : undefined,
    strict: !o.posted,
    error: o.posted?.what === 'files' ? o.posted.errors.paths : undefined,
  })
  if (isHtmx(c) && !o.posted) return c.html(<TreeFragment view={tree} />)
  const databases = await listTenantDatabases(db, tenant.id)
  const holds = (d: { engine: string; name: string }) => snap.databases.includes(dumpKey(d))
  const policy =
    snap.policyId !== null
      ? (await listPolicies(db, tenant.id)).find((p) => p.id === snap.policyId)?.name
      : undefined
  return c.html(
    <BrowsePage
      ctx={pageCtx(c)}
      base={base}
      zone={safeZone(tenant.timezone)}
      destName={dest.name}
      policy={snap.kind === 'policy' ? (policy ?? 'A deleted policy') : 'Not made by a policy'}
      snapshot={snap}
      hasHome={hasHome}
      tree={tree}
      offered={databases.filter(holds)}
      missing={databases.filter((d) => !holds(d))}
      posted={o.posted}
    />,
    o.posted ? 422 : 200,
  )
}

restoreRoutes.get('/', async (c) => {
  const tenant = tenantOf(c)
  const { db } = c.get('deps')
  const dests = []
  for (const d of await listDestinations(db, tenant.id))
    if ((await findRepository(db, tenant.id, d.id))?.initializedAt) dests.push(d)
  const destinations = []
  for (const d of dests) {
    const { snapshots, pending } = await catalogForPage(engineDeps(c), tenant, d)
    if (pending?.created) c.get('deps').wake?.()
    const host = d.providerDestinationId !== null
    destinations.push({ id: d.id, name: d.name, host, snapshots, pending })
  }
  const policyNames = new Map((await listPolicies(db, tenant.id)).map((p) => [p.id, p.name]))
  return c.html(
    <RestorePage
      ctx={pageCtx(c)}
      zone={safeZone(tenant.timezone)}
      home={tenant.homeDir}
      destinations={destinations}
      policyNames={policyNames}
    />,
  )
})

/**
 * Polled by the note of a destination being checked: the note again while the look is queued
 * or running, then a reload of the page (htmx) so the list shows what was found.
 */
restoreRoutes.get('/:dest/checking', async (c) => {
  const tenant = tenantOf(c)
  const { db } = c.get('deps')
  const dest = await getDestination(db, tenant.id, idParam(c, 'dest'))
  if (!isHtmx(c)) return c.redirect('/backups/restore', 303)
  const pending = await waitingFor(db, tenant.id, syncJobKey(dest.id))
  if (pending)
    return c.html(<CatalogNote destId={dest.id} pending={pending} again="/backups/restore" />)
  c.header('HX-Refresh', 'true')
  return c.body(null, 204)
})

/** Polled while a backup's file list is read: the bar again, then a reload of the page. */
restoreRoutes.get('/:dest/:snap/reading', async (c) => {
  const loaded = await snapshotOf(c)
  if (loaded instanceof Response) return loaded
  const { tenant, dest, snapshot, base } = loaded
  const { db } = c.get('deps')
  if (!isHtmx(c)) return c.redirect(base, 303)
  const pending = await waitingFor(db, tenant.id, indexJobKey(dest.id, snapshot.id))
  if (pending) return c.html(<ReadingNote base={base} pending={pending} again={base} />)
  c.header('HX-Refresh', 'true')
  return c.body(null, 204)
})

restoreRoutes.get('/:dest/:snap', async (c) => {
  const loaded = await snapshotOf(c)
  if (loaded instanceof Response) return loaded
  return browse(c, loaded, {
    dir: c.req.query('dir'),
    q: c.req.query('q'),
    selected: c.req.queries('paths') ?? [],
  })
})

/**
 * Answers with a download once it has started (a file as itself, a folder as .tar, a dump
 * gzipped): a path or dump the snapshot lacks is a 404 page before restic runs, a third download
 * at once a 429, a failure to start a 409. The client going away stops restic.
 */
async function sendDownload(
  c: Ctx,
  audit: { target: string; details: Record<string, unknown> },
  open: () => Promise<Download>,
) {
  let download: Download
  try {
    download = await open()
  } catch (err) {
    if (err instanceof DownloadLimitError)
      return c.html(<ErrorPage ctx={pageCtx(c)} status={429} message={err.message} />, 429)
    if (err instanceof NotFoundError || err instanceof ConflictError) throw err
    throw new ConflictError(`The download could not start: ${plainReason(err)}`)
  }
  try {
    await auditWeb(c, 'download', audit)
  } catch (err) {
    download.body.destroy()
    throw err
  }
  return c.body(Readable.toWeb(download.body) as ReadableStream, 200, downloadHeaders(download))
}

restoreRoutes.get('/:dest/:snap/download', async (c) => {
  // Made now: the server aborts it when the client leaves only if it exists by then.
  const signal = c.req.raw.signal
  const loaded = await snapshotOf(c)
  if (loaded instanceof Response) return loaded
  const { tenant, dest, snapshot } = loaded
  const path = homePath(c, c.req.query('path') ?? '')
  const details = { destination: dest.name, snapshot: snapshot.id, path }
  return sendDownload(c, { target: `${snapshot.shortId}:${path}`, details }, async () => {
    const target = await downloadTarget(engineDeps(c), tenant, dest, snapshot, path)
    return openDownload(engineDeps(c), tenant, dest, snapshot, target, signal)
  })
})

restoreRoutes.get('/:dest/:snap/database/:db', async (c) => {
  const signal = c.req.raw.signal
  const loaded = await snapshotOf(c)
  if (loaded instanceof Response) return loaded
  const { tenant, dest, snapshot } = loaded
  const id = idParam(c, 'db')
  const database = (await listTenantDatabases(c.get('deps').db, tenant.id)).find((d) => d.id === id)
  if (!database) throw new NotFoundError('That database')
  const details = { destination: dest.name, snapshot: snapshot.id, database: database.name }
  return sendDownload(c, { target: `${snapshot.shortId}:${database.name}`, details }, () =>
    openDatabaseDownload(engineDeps(c), tenant, dest, snapshot, database, signal),
  )
})

/**
 * Starts a restore. Checked against the snapshot's index first (paths it holds, databases whose
 * dump it holds); a restore in place without `confirm=yes` answers the confirmation page and
 * queues nothing.
 */
restoreRoutes.post('/:dest/:snap', async (c) => {
  const loaded = await snapshotOf(c)
  if (loaded instanceof Response) return loaded
  const { tenant, dest, snapshot, base } = loaded
  const { db } = c.get('deps')
  const form = await readForm(c)
  const what: PostedRestore['what'] = str(form, 'what') === 'database' ? 'database' : 'files'
  const mode: PostedRestore['mode'] = str(form, 'mode') === 'inplace' ? 'inplace' : 'copy'
  const paths = what === 'files' ? [...new Set(all(form, 'paths'))] : []
  const dbText = str(form, 'database')
  const databaseId =
    what === 'database' ? (/^[1-9]\d{0,15}$/.test(dbText) ? Number(dbText) : 0) : undefined
  const newName = str(form, 'newName')
  const dir = str(form, 'dir')
  const snap = await indexed(c, loaded)
  if (snap instanceof Response) return snap
  const home = tenant.homeDir
  const database = (await listTenantDatabases(db, tenant.id)).find((d) => d.id === databaseId)
  const errors: Record<string, string> = {}
  if (what === 'database') {
    if (!database) errors.database = 'Choose one of your databases.'
    else if (!snap.databases.includes(dumpKey(database)))
      errors.database = `This backup holds no copy of the database ${database.name}: choose another backup.`
  } else if (!holdsHome(snap, home)) {
    errors.paths = 'This backup holds no files from your home folder.'
  } else {
    for (const p of paths) {
      if (!(await inSnapshot(c, snap, home, p))) {
        errors.paths = 'Choose files and folders from this backup.'
        break
      }
    }
  }
  const again = (errs: Record<string, string>) =>
    browse(c, loaded, {
      dir,
      selected: paths,
      posted: { what, databaseId, mode, newName, errors: errs },
    })
  if (Object.keys(errors).length) return again(errors)
  if (mode === 'inplace' && str(form, 'confirm') !== 'yes') {
    return c.html(
      <ConfirmPage
        ctx={pageCtx(c)}
        base={base}
        zone={safeZone(tenant.timezone)}
        destName={dest.name}
        snapshot={snap}
        home={home}
        paths={paths}
        database={database}
        dir={dir}
      />,
    )
  }
  const request = {
    destinationId: dest.id,
    snapshot: snapshot.id,
    paths,
    databaseId,
    mode,
    newName: mode === 'copy' ? newName : undefined,
    trigger: 'manual' as const,
  }
  let jobId: number
  try {
    jobId = (await requestRestoreChecked(engineDeps(c), tenant, request)).id
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    return again(err.errors)
  }
  await auditWeb(c, 'restore.start', {
    target: snapshot.shortId,
    details: restoreFacts(dest.name, request, database?.name, jobId),
  })
  c.get('deps').wake?.()
  return redirectTo(c, '/backups', { kind: 'ok', text: 'Restore queued: progress shows below.' })
})
