import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import { shopAndBlog } from '../support/databases.ts'
import { freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { requireMariaDb, startMariaDb, type MariaDbServer } from '../services/mariadb.ts'
import { requirePostgres, startPostgres, type PostgresServer } from '../services/postgres.ts'
import { requestBackup, requestRestore } from '../../src/domain/jobs.ts'
import { requestRestoreChecked } from '../../src/domain/restore-request.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { latestRunOfJob, runLogsOf, runStagesOf } from '../../src/db/runs.ts'
import { catalogOf } from '../../src/db/snapshots.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { getJob } from '../../src/db/jobs.ts'
import { jobs, tenants } from '../../src/db/schema.ts'
import { listSnapshots, withRepository } from '../../src/engine/restic/snapshots.ts'
import { runRestic } from '../../src/engine/restic/restic.ts'
import { dumpDatabase } from '../../src/engine/host/dumps.ts'
import { backupCommands } from '../../src/cli/backups.ts'
import type { CliDeps } from '../../src/cli/command.ts'
import { InputError } from '../../src/errors.ts'
import type { RestorePayload } from '../../src/db/job-payloads.ts'

const ZONE = 'Europe/Berlin'

/** "Thu 3 Dec 2026, 12:51 (Europe/Berlin)", assembled here from Intl's parts. */
function inZone(iso: string | Date): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: ZONE,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(iso))
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]))
  return `${v.weekday} ${v.day} ${v.month} ${v.year}, ${v.hour}:${v.minute} (${ZONE})`
}

describe.runIf(rootAvailable() && requireMariaDb() && requirePostgres())(
  'restoring databases (real restic, MariaDB and PostgreSQL)',
  () => {
    const deps = freshDeps()
    let maria: MariaDbServer
    let pg: PostgresServer
    let runner: Runner
    let t: Awaited<ReturnType<typeof realTenant>>
    const ids: Record<string, number> = {}
    const policies: Record<string, number> = {}
    let destId = 0
    let first = '' // the snapshot of the first Nightly backup
    const moved = mkdtempSync(join(tmpdir(), 'moved-dumps-'))

    const dest = () => getDestination(deps.db, t.tenant.id, destId)
    const mariaRows = async (db: string) =>
      (await maria.sql('SELECT id, note FROM orders ORDER BY id', db)).trim()
    const pgRows = async (db: string) =>
      (await pg.sql('SELECT id, title FROM posts ORDER BY id', db)).trim()
    const mariaHas = async (db: string) =>
      (
        await maria.sql(
          `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${db}'`,
        )
      ).trim() === '1'
    const pgHas = async (db: string) =>
      (await pg.sql(`SELECT count(*) FROM pg_database WHERE datname = '${db}'`)).trim() === '1'

    async function backup(policyId: number): Promise<string> {
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      runner.wake()
      const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
      expect(done.status, done.lastError ?? '').toBe('done')
      const stage = (
        await runStagesOf(deps.db, (await latestRunOfJob(deps.db, t.tenant.id, job.id))!.id)
      ).find((s) => s.name === 'snapshot')
      return fullId(stage!.snapshotId!)
    }

    /** restic 0.14 prints short ids in its summary; requests carry the full one. */
    async function fullId(short: string): Promise<string> {
      const all = await listSnapshots(deps, t.tenant, await dest())
      return all.find((s) => s.id.startsWith(short))!.id
    }

    /** Runs a restore job to its end (through the runner) and returns the job and its last run. */
    async function restore(input: Omit<RestorePayload, 'destinationId' | 'paths'>, checked = true) {
      const request = { destinationId: destId, paths: [], ...input }
      const job = checked
        ? await requestRestoreChecked(deps, t.tenant, request)
        : await requestRestore(deps.db, t.tenant.id, request)
      runner.wake()
      const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
      const run = (await latestRunOfJob(deps.db, t.tenant.id, job.id))!
      return {
        job: done,
        run,
        stages: await runStagesOf(deps.db, run.id),
        logs: (await runLogsOf(deps.db, run.id)).map((l) => l.message),
      }
    }

    /** A snapshot of `paths` made with restic directly (as the tenant), with `tags`. */
    async function craft(paths: string[], tags: string[]): Promise<string> {
      const id = await withRepository(deps, t.tenant, await dest(), async (repo) => {
        let made = ''
        const args = [
          'backup',
          '--json',
          '--host',
          t.tenant.name,
          ...tags.flatMap((tag) => ['--tag', tag]),
          '--',
          ...paths,
        ]
        await runRestic(args, repo.env, {
          onJson: (m) => void (m.message_type === 'summary' && (made = m.snapshot_id)),
        })
        return made
      })
      return fullId(id)
    }

    async function refused(
      input: Omit<RestorePayload, 'destinationId' | 'paths'>,
    ): Promise<Record<string, string>> {
      const before = (await deps.db.select().from(jobs)).length
      const err = await requestRestoreChecked(deps, t.tenant, {
        destinationId: destId,
        paths: [],
        ...input,
      }).then(
        () => null,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(InputError)
      expect((await deps.db.select().from(jobs)).length, 'nothing queued').toBe(before)
      return (err as InputError).errors
    }

    beforeAll(async () => {
      ;[maria, pg] = await Promise.all([startMariaDb(), startPostgres()])
      t = await realTenant(deps, 'rdb', { 'public_html/index.php': '<?php echo 1;\n' })
      await deps.db.update(tenants).set({ timezone: ZONE }).where(eq(tenants.id, t.tenant.id))
      Object.assign(ids, await shopAndBlog(deps, t.tenant.id, maria, pg))
      destId = (await localDestination(deps, t.tenant.id)).id
      policies.nightly = await policy(deps, t.tenant.id, [destId], {
        name: 'Nightly',
        databaseIds: [ids.shop!, ids.blog!],
      })
      policies.files = await policy(deps, t.tenant.id, [destId], {
        name: 'Files only',
        databaseIds: [],
      })
      runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
      first = await backup(policies.nightly!)
    }, 180_000)
    afterAll(async () => {
      await runner?.stop()
      await Promise.all([maria?.stop(), pg?.stop()])
      removeUsers()
      rmSync(moved, { recursive: true, force: true })
    })

    it('says what the host must grant when the database user may not create databases, and does not retry', async () => {
      const shop = await restore({
        snapshot: first,
        databaseId: ids.shop,
        mode: 'copy',
        newName: 'shop_copy',
      })
      expect(shop.job.status).toBe('failed')
      expect(shop.job.attempts, 'not retried').toBe(1)
      expect(shop.job.lastError).toBe(
        "Your database user shopuser may not create databases. Ask your host to grant it CREATE (for example GRANT ALL ON `shop\\_%`.* TO 'shopuser'@'%'), or restore in place.",
      )
      expect(await mariaHas('shop_copy')).toBe(false)
      const blog = await restore({
        snapshot: first,
        databaseId: ids.blog,
        mode: 'copy',
        newName: 'blog_copy',
      })
      expect(blog.job.status).toBe('failed')
      expect(blog.job.attempts, 'not retried').toBe(1)
      expect(blog.job.lastError).toBe(
        'Your database user bloguser may not create databases. Ask your host to run ALTER ROLE bloguser CREATEDB, or restore in place.',
      )
      expect(await pgHas('blog_copy')).toBe(false)
      // What the message asks the host to do is enough:
      await maria.sql("GRANT ALL ON `shop\\_%`.* TO 'shopuser'@'%'")
      await pg.sql('ALTER ROLE bloguser CREATEDB')
      const again = await restore({
        snapshot: first,
        databaseId: ids.shop,
        mode: 'copy',
        newName: 'shop_copy',
      })
      expect(again.job.status, again.job.lastError ?? '').toBe('done')
      expect(await mariaRows('shop_copy')).toBe('1\tfirst\n2\tsecond')
    })

    it('refuses a new name that is already taken, before queuing and in the job, and never drops that database', async () => {
      expect(
        await refused({ snapshot: first, databaseId: ids.shop, mode: 'copy', newName: 'shop' }),
      ).toEqual({
        newName: 'A database named shop already exists on the server: choose another name.',
      })
      expect(
        await refused({ snapshot: first, databaseId: ids.blog, mode: 'copy', newName: 'blog' }),
      ).toEqual({
        newName: 'A database named blog already exists on the server: choose another name.',
      })
      // Taken after the request was queued: the job refuses for good and leaves it alone.
      await maria.sql(
        "CREATE DATABASE shop_taken; CREATE TABLE shop_taken.orders (id INT PRIMARY KEY, note VARCHAR(40)); INSERT INTO shop_taken.orders VALUES (7,'theirs');",
      )
      await pg.sql('CREATE DATABASE blog_taken')
      await pg.sql(
        "CREATE TABLE posts (id INT PRIMARY KEY, title TEXT); INSERT INTO posts VALUES (7,'theirs');",
        'blog_taken',
      )
      for (const [id, name] of [
        [ids.shop, 'shop_taken'],
        [ids.blog, 'blog_taken'],
      ] as const) {
        const r = await restore(
          { snapshot: first, databaseId: id, mode: 'copy', newName: name },
          false,
        )
        expect(r.job.status).toBe('failed')
        expect(r.job.attempts, 'not retried').toBe(1)
        expect(r.job.lastError).toBe(
          `A database named ${name} already exists on the server: choose another name. Nothing was changed.`,
        )
      }
      expect(await mariaRows('shop_taken')).toBe('7\ttheirs')
      expect(await pgRows('blog_taken')).toBe('7|theirs')
    })

    it('refuses a new database from a backup without that dump before queuing; the job refuses too and creates nothing', async () => {
      const filesOnly = await backup(policies.files!)
      for (const [id, db, name] of [
        [ids.shop, 'shop', 'shop_new'],
        [ids.blog, 'blog', 'blog_new'],
      ] as const) {
        expect(
          await refused({ snapshot: filesOnly, databaseId: id, mode: 'copy', newName: name }),
        ).toEqual({
          database: `This backup holds no copy of the database ${db}: choose another backup.`,
        })
        const r = await restore(
          { snapshot: filesOnly, databaseId: id, mode: 'copy', newName: name },
          false,
        )
        expect(r.job.status).toBe('failed')
        expect(r.job.attempts, 'not retried').toBe(1)
        expect(r.job.lastError).toBe(
          `This backup holds no copy of the database ${db}: choose another backup.`,
        )
      }
      expect(await mariaHas('shop_new')).toBe(false)
      expect(await pgHas('blog_new')).toBe(false)
    })

    it('finds a dump where the snapshot holds it, and drops the database it created when the dump does not load', async () => {
      // A backup made when the panel's work dir was elsewhere: the dumps are not under today's.
      const good = join(moved, 'good', 'dumps')
      const bad = join(moved, 'bad', 'dumps')
      mkdirSync(good, { recursive: true })
      mkdirSync(bad, { recursive: true })
      await dumpDatabase({ ...maria.admin, name: 'shop' }, join(good, 'mariadb-shop.sql'), {
        workDir: moved,
        runAs: null,
      })
      await dumpDatabase({ ...pg.admin, name: 'blog' }, join(good, 'postgresql-blog.sql'), {
        workDir: moved,
        runAs: null,
      })
      writeFileSync(
        join(bad, 'mariadb-shop.sql'),
        'CREATE TABLE orders (id INT PRIMARY KEY);\nTHIS IS NOT SQL;\n',
      )
      writeFileSync(
        join(bad, 'postgresql-blog.sql'),
        'CREATE TABLE posts (id INT PRIMARY KEY);\nTHIS IS NOT SQL;\n',
      )
      execFileSync('chown', ['-R', `${t.uid}:${t.gid}`, moved])
      const goodSnap = await craft([good], [`policy:${policies.nightly}`])
      const badSnap = await craft([bad], [`policy:${policies.nightly}`])

      const shop = await restore({
        snapshot: goodSnap,
        databaseId: ids.shop,
        mode: 'copy',
        newName: 'shop_moved',
      })
      expect(shop.job.status, shop.job.lastError ?? '').toBe('done')
      expect(await mariaRows('shop_moved')).toBe('1\tfirst\n2\tsecond')
      const blog = await restore({
        snapshot: goodSnap,
        databaseId: ids.blog,
        mode: 'copy',
        newName: 'blog_moved',
      })
      expect(blog.job.status, blog.job.lastError ?? '').toBe('done')
      expect(await pgRows('blog_moved')).toBe('1|hello\n2|world\n3|again')

      const shopBad = await restore({
        snapshot: badSnap,
        databaseId: ids.shop,
        mode: 'copy',
        newName: 'shop_bad',
      })
      expect(shopBad.job.status).toBe('failed')
      expect(shopBad.job.lastError).toMatch(
        /^shop could not be restored as shop_bad: .*ERROR 1064.* The new database shop_bad was removed again\.$/,
      )
      expect(await mariaHas('shop_bad')).toBe(false)
      const blogBad = await restore({
        snapshot: badSnap,
        databaseId: ids.blog,
        mode: 'copy',
        newName: 'blog_bad',
      })
      expect(blogBad.job.status).toBe('failed')
      expect(blogBad.job.lastError).toMatch(
        /^blog could not be restored as blog_bad: .*syntax error.* The new database blog_bad was removed again\.$/,
      )
      expect(await pgHas('blog_bad')).toBe(false)
    })

    it('keeps the live database, with rows written after the backup, as a safety copy before restoring in place', async () => {
      await maria.sql("INSERT INTO orders VALUES (3,'late')", 'shop')
      await pg.sql("INSERT INTO posts VALUES (4,'late')", 'blog')
      for (const [id, db] of [
        [ids.shop, 'shop'],
        [ids.blog, 'blog'],
      ] as const) {
        const r = await restore({ snapshot: first, databaseId: id, mode: 'inplace' })
        expect(r.job.status, r.job.lastError ?? '').toBe('done')
        // Recorded by the run itself (runId), before any sync with restic: a safety copy, never `latest`.
        const row = (await catalogOf(deps.db, t.tenant.id, destId)).find(
          (s) => s.kind === 'safety' && s.runId === r.run.id,
        )
        expect(row, 'the safety snapshot is in the catalog').toBeTruthy()
        expect(row!.complete).toBe(false)
        expect(row!.tags).toEqual([
          'safety',
          `run:${r.run.id}`,
          `db:${db === 'shop' ? 'mariadb-shop' : 'postgresql-blog'}`,
        ])
        const words = `Your database as it was before this restore is kept as a safety copy: Restore > Safety copies, “Before restoring ${db}” on ${inZone(row!.time)}.`
        const stage = r.stages.find((s) => s.name === 'safety-snapshot')!
        expect(stage.message).toBe(words)
        expect(stage.snapshotId).toBe(row!.snapshotId)
        expect(r.logs).toContain(words)
        expect(r.stages.map((s) => [s.name, s.status])).toEqual([
          ['prepare', 'success'],
          ['safety-snapshot', 'success'],
          ['restore-database', 'success'],
        ])
      }
      expect(await mariaRows('shop')).toBe('1\tfirst\n2\tsecond')
      expect(await pgRows('blog')).toBe('1|hello\n2|world\n3|again')

      // The safety copies hold the rows written after the backup: restore them under new names.
      const safety = (await catalogOf(deps.db, t.tenant.id, destId)).filter(
        (s) => s.kind === 'safety',
      )
      const shopSafety = safety.find((s) => s.databases.includes('mariadb-shop'))!
      const blogSafety = safety.find((s) => s.databases.includes('postgresql-blog'))!
      const a = await restore({
        snapshot: shopSafety.snapshotId,
        databaseId: ids.shop,
        mode: 'copy',
        newName: 'shop_before',
      })
      expect(a.job.status, a.job.lastError ?? '').toBe('done')
      expect(await mariaRows('shop_before')).toBe('1\tfirst\n2\tsecond\n3\tlate')
      const b = await restore({
        snapshot: blogSafety.snapshotId,
        databaseId: ids.blog,
        mode: 'copy',
        newName: 'blog_before',
      })
      expect(b.job.status, b.job.lastError ?? '').toBe('done')
      expect(await pgRows('blog_before')).toBe('1|hello\n2|world\n3|again\n4|late')
    })

    it('leaves the live database untouched when it cannot be dumped first', async () => {
      await maria.sql("INSERT INTO orders VALUES (5,'keep')", 'shop')
      await pg.sql("INSERT INTO posts VALUES (5,'keep')", 'blog')
      // The loads would work; the dumps do not (mariadb-dump --events needs EVENT; pg_dump reads every table).
      await maria.sql("REVOKE EVENT ON shop.* FROM 'shopuser'@'%'")
      await pg.sql('CREATE TABLE locked (x INT)', 'blog')
      try {
        const safetyBefore = (await catalogOf(deps.db, t.tenant.id, destId)).filter(
          (s) => s.kind === 'safety',
        ).length
        for (const [id, db] of [
          [ids.shop, 'shop'],
          [ids.blog, 'blog'],
        ] as const) {
          const r = await restore({ snapshot: first, databaseId: id, mode: 'inplace' })
          expect(r.job.status).toBe('failed')
          expect(r.job.lastError).toMatch(
            new RegExp(
              `^Your database ${db} could not be copied before the restore, so nothing was restored and it is as it was: .*(denied|permission)`,
            ),
          )
          expect(r.stages.map((s) => s.name)).not.toContain('restore-database')
        }
        expect(await mariaRows('shop')).toBe('1\tfirst\n2\tsecond\n5\tkeep')
        expect(await pgRows('blog')).toBe('1|hello\n2|world\n3|again\n5|keep')
        expect(
          (await catalogOf(deps.db, t.tenant.id, destId)).filter((s) => s.kind === 'safety').length,
        ).toBe(safetyBefore)
      } finally {
        await maria.sql("GRANT EVENT ON shop.* TO 'shopuser'@'%'")
        await pg.sql('DROP TABLE locked', 'blog')
      }
    })

    it('panel restore <tenant> latest --database restores the newest backup that holds that dump', async () => {
      const nightly = await backup(policies.nightly!)
      const filesOnly = await backup(policies.files!) // newer and complete, but without any dump
      const inPlace = await restore({ snapshot: nightly, databaseId: ids.blog, mode: 'inplace' }) // newest: a safety copy of blog
      expect(inPlace.job.status, inPlace.job.lastError ?? '').toBe('done')
      const cli: CliDeps = {
        db: deps.db,
        secretKey: deps.config.secretKey,
        drivers: deps.drivers as CliDeps['drivers'],
        baseUrl: 'http://localhost',
        config: deps.config,
      }
      const log = vi.spyOn(console, 'log').mockImplementation(() => {})
      const queued = async (opts: Record<string, unknown>) => {
        log.mockClear()
        await backupCommands.restore!.run(cli, ['rdb', 'latest'], { json: true, ...opts })
        const jobId = JSON.parse(String(log.mock.calls[0]![0])).jobId as number
        return getJob(deps.db, t.tenant.id, jobId)
      }
      try {
        for (const db of ['shop', 'blog']) {
          const job = await queued({ database: db, to: `${db}_latest` })
          expect((job.payload as RestorePayload).snapshot).toBe(nightly)
          runner.wake()
          const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
          expect(done.status, done.lastError ?? '').toBe('done')
        }
        expect(await mariaRows('shop_latest')).toBe('1\tfirst\n2\tsecond\n5\tkeep')
        expect(await pgRows('blog_latest')).toBe('1|hello\n2|world\n3|again\n5|keep')
        const files = await queued({ to: 'files-latest' })
        expect((files.payload as RestorePayload).snapshot).toBe(filesOnly)
        await waitJob(deps, t.tenant.id, files.id, 120_000)
      } finally {
        log.mockRestore()
      }
      expect(
        await deps.db
          .select()
          .from(jobs)
          .where(and(eq(jobs.kind, 'restore'), eq(jobs.status, 'queued'))),
      ).toEqual([])
    })
  },
)
