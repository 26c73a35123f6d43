import { and, asc, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm'
import type { Db } from './client.ts'
import { isPostgres } from './dialect.ts'
import { transaction } from './tx.ts'
import {
  repositories,
  runStages,
  runs,
  snapshotFiles,
  snapshots,
  type SnapshotRow,
} from './schema.ts'
import { NotFoundError } from '../errors.ts'

/** A snapshot as restic lists it (`restic snapshots --json`). */
export type ListedSnapshot = { id: string; time: string; tags: string[]; paths: string[] }

/** Tag that marks a snapshot taken before a restore in place. */
export const SAFETY_TAG = 'safety'
/** Safety snapshots (taken before a restore in place) are kept this many days, then forgotten. */
export const SAFETY_KEEP_DAYS = 14
/** Tag for a policy snapshot that lacks something it should hold (a dump failed). */
export const INCOMPLETE_TAG = 'incomplete'

/** `<engine>-<name>`: how the catalog names a database whose dump a snapshot holds. */
export const dumpKey = (d: { engine: string; name: string }) => `${d.engine}-${d.name}`

/** `db:<engine>-<name>`: the snapshot holds a good dump of that database. */
export const dbTag = (engine: string, name: string) => `db:${dumpKey({ engine, name })}`

const DUMP_FILE = /^(mariadb|postgresql)-(.+)\.sql$/

/** The folder a snapshot path is in (`/` for a top-level path). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

/**
 * The database whose dump the panel stored at `path` of a snapshot: `<engine>-<name>.sql`
 * directly in a `…/dumps` folder that is one of the snapshot's own paths (`roots`); else null.
 */
export function dumpOf(
  path: string,
  roots: string[],
): { engine: 'mariadb' | 'postgresql'; name: string } | null {
  const parent = parentOf(path)
  const m = path.slice(parent.length + 1).match(DUMP_FILE)
  if (!m || !parent.endsWith('/dumps') || !roots.includes(parent)) return null
  return { engine: m[1] as 'mariadb' | 'postgresql', name: m[2]! }
}

/** What the tags say: kind, policy, databases with a good dump, and whether something is missing. */
export function factsOf(tags: string[]) {
  const policy = tags.find((t) => t.startsWith('policy:'))
  const kind: SnapshotRow['kind'] = tags.includes(SAFETY_TAG)
    ? 'safety'
    : policy
      ? 'policy'
      : 'other'
  return {
    kind,
    policyId: policy ? Number(policy.slice(7)) || null : null,
    databases: tags.filter((t) => t.startsWith('db:')).map((t) => t.slice(3)),
    incomplete: tags.includes(INCOMPLETE_TAG),
  }
}

/** Records a snapshot the runner just made (or updates it). */
export async function recordSnapshot(
  db: Db,
  tenantId: number,
  destinationId: number,
  s: ListedSnapshot & {
    complete: boolean
    bytes?: number | null
    files?: number | null
    runId?: number | null
  },
): Promise<SnapshotRow> {
  const f = factsOf(s.tags)
  const values = {
    tenantId,
    destinationId,
    snapshotId: s.id,
    time: new Date(s.time),
    tags: s.tags,
    paths: s.paths,
    kind: f.kind,
    policyId: f.policyId,
    complete: s.complete && f.kind !== 'safety',
    databases: f.databases,
    bytes: s.bytes ?? null,
    files: s.files ?? null,
    runId: s.runId ?? null,
  }
  return (
    await db
      .insert(snapshots)
      .values(values)
      .onConflictDoUpdate({ target: [snapshots.destinationId, snapshots.snapshotId], set: values })
      .returning()
  )[0]
}

/** Drops forgotten snapshots (and their file index) from the catalog. */
export async function removeSnapshots(
  db: Db,
  tenantId: number,
  destinationId: number,
  ids: string[],
): Promise<void> {
  if (!ids.length) return
  await db
    .delete(snapshots)
    .where(
      and(
        eq(snapshots.tenantId, tenantId),
        eq(snapshots.destinationId, destinationId),
        inArray(snapshots.snapshotId, ids),
      ),
    )
}

/** True when a run recorded this snapshot's stage as partial (some files were unreadable). */
async function recordedPartial(db: Db, tenantId: number, snapshotId: string): Promise<boolean> {
  const row = (
    await db
      .select({ status: runStages.status })
      .from(runStages)
      .innerJoin(runs, eq(runs.id, runStages.runId))
      // Stages of runs before the full id was recorded hold restic 0.14's short one.
      .where(
        and(eq(runs.tenantId, tenantId), sql`${snapshotId} LIKE ${runStages.snapshotId} || '%'`),
      )
  )[0]
  return row?.status === 'partial'
}

/**
 * Makes the catalog of one repository match what restic listed: new snapshots are added (complete
 * unless their tags or the run history say otherwise), vanished ones dropped, known ones keep what
 * the runner recorded (size, completeness, file index).
 */
export async function syncCatalog(
  db: Db,
  tenantId: number,
  destinationId: number,
  repositoryId: number,
  listed: ListedSnapshot[],
): Promise<void> {
  await transaction(db, async (tx) => {
    const known = new Map(
      (
        await tx
          .select()
          .from(snapshots)
          .where(and(eq(snapshots.tenantId, tenantId), eq(snapshots.destinationId, destinationId)))
      ).map((r) => [r.snapshotId, r]),
    )
    const seen = new Set<string>()
    for (const s of listed) {
      seen.add(s.id)
      const row = known.get(s.id)
      if (row) {
        const time = new Date(s.time)
        const same = row.time.getTime() === time.getTime() && String(row.paths) === String(s.paths)
        if (!same)
          await tx.update(snapshots).set({ time, paths: s.paths }).where(eq(snapshots.id, row.id))
        continue
      }
      const f = factsOf(s.tags)
      const complete =
        f.kind === 'policy' && !f.incomplete && !(await recordedPartial(db, tenantId, s.id))
      await recordSnapshot(db, tenantId, destinationId, { ...s, complete })
    }
    const gone = [...known.keys()].filter((id) => !seen.has(id))
    await removeSnapshots(db, tenantId, destinationId, gone)
    await tx
      .update(repositories)
      .set({ snapshotsSyncedAt: new Date() })
      .where(eq(repositories.id, repositoryId))
  })
}

/** The catalog of one destination (or all of the tenant's), newest first. */
export async function catalogOf(
  db: Db,
  tenantId: number,
  destinationId?: number,
): Promise<SnapshotRow[]> {
  const where =
    destinationId === undefined
      ? eq(snapshots.tenantId, tenantId)
      : and(eq(snapshots.tenantId, tenantId), eq(snapshots.destinationId, destinationId))
  return await db
    .select()
    .from(snapshots)
    .where(where)
    .orderBy(desc(snapshots.time), desc(snapshots.id))
}

/** The time of the newest snapshot the catalog holds on one destination, or null. */
export async function newestSnapshotTime(
  db: Db,
  tenantId: number,
  destinationId: number,
): Promise<Date | null> {
  const row = (
    await db
      .select({ time: snapshots.time })
      .from(snapshots)
      .where(and(eq(snapshots.tenantId, tenantId), eq(snapshots.destinationId, destinationId)))
      .orderBy(desc(snapshots.time))
      .limit(1)
  )[0]
  return row?.time ?? null
}

/** One snapshot of the tenant on a destination by its full id; NotFoundError otherwise. */
export async function getCatalogSnapshot(
  db: Db,
  tenantId: number,
  destinationId: number,
  snapshotId: string,
): Promise<SnapshotRow> {
  const row = (
    await db
      .select()
      .from(snapshots)
      .where(
        and(
          eq(snapshots.tenantId, tenantId),
          eq(snapshots.destinationId, destinationId),
          eq(snapshots.snapshotId, snapshotId),
        ),
      )
  )[0]
  if (!row) throw new NotFoundError('That snapshot')
  return row
}

/**
 * What `latest` means everywhere: the newest complete policy snapshot (never a safety snapshot,
 * never one with a failed dump or unreadable files), optionally of one policy, optionally holding
 * a good dump of `database` (`<engine>-<name>`). `rows` newest first.
 */
export function latestComplete<
  T extends Pick<SnapshotRow, 'kind' | 'complete' | 'policyId' | 'databases'>,
>(rows: T[], opts: { policyId?: number; database?: string } = {}): T | undefined {
  return rows.find(
    (r) =>
      r.kind === 'policy' &&
      (opts.database ? r.databases.includes(opts.database) : r.complete) &&
      (opts.policyId === undefined || r.policyId === opts.policyId),
  )
}

/** How many safety snapshots (taken before restores in place) the tenant holds now. */
export async function safetyCount(db: Db, tenantId: number): Promise<number> {
  return (
    (
      await db
        // PostgreSQL's count is a bigint, which its driver returns as a string.
        .select({ n: sql<number>`count(*)`.mapWith(Number) })
        .from(snapshots)
        .where(and(eq(snapshots.tenantId, tenantId), eq(snapshots.kind, 'safety')))
    )[0]?.n ?? 0
  )
}

/** When the catalog of a repository was last synced with restic (null: never). */
export async function catalogSyncedAt(db: Db, repositoryId: number): Promise<Date | null> {
  return (
    (
      await db
        .select({ at: repositories.snapshotsSyncedAt })
        .from(repositories)
        .where(eq(repositories.id, repositoryId))
    )[0]?.at ?? null
  )
}

// ---- the file index of a snapshot ----

export type IndexedNode = {
  parent: string
  name: string
  type: 'dir' | 'file' | 'symlink' | 'other'
  size: number
  mtime: Date | null
  lossy: boolean
}

/** The direct children of `parent` in an indexed snapshot: folders first, then by name. */
export async function childrenOf(db: Db, rowId: number, parent: string) {
  return await db
    .select()
    .from(snapshotFiles)
    .where(and(eq(snapshotFiles.snapshotRowId, rowId), eq(snapshotFiles.parent, parent)))
    .orderBy(sql`${snapshotFiles.type} <> 'dir'`, asc(snapshotFiles.name))
}

/** One node of an indexed snapshot by its full path, or undefined. */
export async function nodeAt(db: Db, rowId: number, path: string) {
  const parent = parentOf(path)
  return (
    await db
      .select()
      .from(snapshotFiles)
      .where(
        and(
          eq(snapshotFiles.snapshotRowId, rowId),
          eq(snapshotFiles.parent, parent),
          eq(snapshotFiles.name, path.slice(parent === '/' ? 1 : parent.length + 1)),
        ),
      )
  )[0]
}

/**
 * Where a snapshot holds the dump of `d` (in one of its `…/dumps` paths), from its file index
 * (build it first); null when it holds none.
 */
export async function dumpPathIn(
  db: Db,
  snap: { rowId: number; paths: string[] },
  d: { engine: string; name: string },
): Promise<string | null> {
  const file = `${dumpKey(d)}.sql`
  for (const dir of snap.paths.filter((p) => p.endsWith('/dumps'))) {
    if ((await nodeAt(db, snap.rowId, `${dir}/${file}`))?.type === 'file') return `${dir}/${file}`
  }
  return null
}

/** Nodes whose name contains `q` (case-insensitive for ASCII), at most `limit`. */
export async function searchIndex(db: Db, rowId: number, q: string, limit = 200) {
  const pattern = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
  // SQLite's LIKE ignores the case of ASCII letters only; so does ILIKE under collation "C".
  const match = isPostgres(db)
    ? sql`${snapshotFiles.name} collate "C" ilike ${pattern} escape '\\'`
    : sql`${snapshotFiles.name} LIKE ${pattern} ESCAPE '\\'`
  return await db
    .select()
    .from(snapshotFiles)
    .where(and(eq(snapshotFiles.snapshotRowId, rowId), match))
    .orderBy(asc(snapshotFiles.parent), asc(snapshotFiles.name))
    .limit(limit)
}

/** Records which databases' dumps a snapshot holds (learnt from its file index). */
export async function setDatabases(db: Db, rowId: number, databases: string[]): Promise<void> {
  await db.update(snapshots).set({ databases }).where(eq(snapshots.id, rowId))
}

export async function touchIndex(db: Db, rowId: number): Promise<void> {
  await db.update(snapshots).set({ indexUsedAt: new Date() }).where(eq(snapshots.id, rowId))
}

/** Keeps the file index of the `keep` most recently used snapshots per tenant; drops the rest. */
export async function dropOldIndexes(db: Db, tenantId: number, keep = 6): Promise<void> {
  const rows = await db
    .select({ id: snapshots.id })
    .from(snapshots)
    .where(and(eq(snapshots.tenantId, tenantId), isNotNull(snapshots.indexedAt)))
    .orderBy(desc(snapshots.indexUsedAt))
  const old = rows.slice(keep).map((r) => r.id)
  if (!old.length) return
  await transaction(db, async (tx) => {
    await tx.delete(snapshotFiles).where(inArray(snapshotFiles.snapshotRowId, old))
    await tx
      .update(snapshots)
      .set({ indexedAt: null, indexUsedAt: null })
      .where(inArray(snapshots.id, old))
  })
}
