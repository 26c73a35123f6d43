import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { requireMariaDb, startMariaDb, type MariaDbServer } from '../services/mariadb.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { assignDatabase } from '../../src/domain/databases.ts'
import { insertTenantDatabase } from '../../src/db/tenants.ts'
import { activeJobs } from '../../src/db/jobs.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { tenants } from '../../src/db/schema.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { catalogSnapshots, ensureIndex, type Snapshot } from '../../src/engine/restic/snapshots.ts'
import { snapshotWhen, suggestedDatabase, suggestedFolder } from '../../views/restore-parts.tsx'

const ZONE = 'Europe/Berlin'
const FILES = {
  'public_html/index.html': '<h1>v1</h1>\n',
  'public_html/img/logo.svg': '<svg/>\n',
  'public_html/deep/nested/needle-report.txt': 'found me\n',
  'notes.txt': 'notes\n',
}

/** Every `<input … name="paths" …>` of a page, as [value, checked]. */
function pathBoxes(html: string): [string, boolean][] {
  return [...html.matchAll(/<input[^>]*name="paths"[^>]*>/g)].map((m) => [
    m[0].match(/value="([^"]*)"/)?.[1] ?? '',
    /\schecked(=|\s|>|\/)/.test(m[0]),
  ])
}

const count = (text: string, part: string) => text.split(part).length - 1
const words = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ')

const mariaOk = rootAvailable() && requireMariaDb()

describe.runIf(rootAvailable())('the Restore page, on a real backup', () => {
  const deps = freshDeps()
  let runner: Runner | undefined
  let maria: MariaDbServer | undefined
  let alice: Awaited<ReturnType<typeof realTenant>>
  let home = ''
  let snap: Snapshot
  let base = ''
  let shopId = 0
  let blogId = 0
  let bobDestId = 0
  let copyJob = 0
  const a = new Client(deps)
  const b = new Client(deps)
  const jobsOf = () => activeJobs(deps.db, alice.tenant.id)

  beforeAll(async () => {
    alice = await realTenant(deps, 'alice', FILES)
    home = alice.home
    await deps.db.update(tenants).set({ timezone: ZONE }).where(eq(tenants.id, alice.tenant.id))
    alice.tenant.timezone = ZONE
    const databaseIds: number[] = []
    if (mariaOk) {
      maria = await startMariaDb()
      await maria.createDatabase('shop', 'shopuser', 'shop db password')
      await maria.sql(
        'CREATE TABLE orders (id INT PRIMARY KEY); INSERT INTO orders VALUES (1);',
        'shop',
      )
      shopId = (
        await assignDatabase(deps.db, deps.config.secretKey, alice.tenant.id, {
          engine: 'mariadb',
          name: 'shop',
          host: '127.0.0.1',
          port: String(maria.port),
          username: 'shopuser',
          password: 'shop db password',
        })
      ).id
      databaseIds.push(shopId)
    }
    // Assigned to alice but in no policy: no backup holds a dump of it.
    blogId = (await insertTenantDatabase(deps.db, alice.tenant.id, 'mariadb', 'blog')).id
    const dest = await localDestination(deps, alice.tenant.id)
    const policyId = await policy(deps, alice.tenant.id, [dest.id], { databaseIds })
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    const { job } = await requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
    runner.wake()
    const done = await waitJob(deps, alice.tenant.id, job.id, 120_000)
    expect(done.status, done.lastError ?? '').toBe('done')
    // Without a runner, a queued restore stays queued: the tests see exactly what was queued.
    await runner.stop()
    runner = undefined
    ;[snap] = await catalogSnapshots(deps, alice.tenant, dest)
    // Pages never read a file list with restic: the runner's index job does; here, directly.
    await ensureIndex(deps, alice.tenant, dest, snap!)
    base = `/backups/restore/${dest.id}/${snap!.id}`
    const bob = await addTenant(deps, 'bob')
    bobDestId = (await localDestination(deps, bob.id)).id
    await a.login('alice')
    await b.login('bob')
  }, 180_000)

  afterAll(async () => {
    await runner?.stop()
    await maria?.stop()
    removeUsers()
  })

  it('lists backups by date in the tenant’s zone (named once), with policy, size and short id', async () => {
    const res = await a.get('/backups/restore')
    expect(res.status).toBe(200)
    expect(res.body).toContain(snapshotWhen(snap.time, ZONE))
    expect(res.body).not.toContain(snapshotWhen(snap.time, 'UTC'))
    expect(count(res.body, ZONE)).toBe(1)
    expect(res.body).toContain('Nightly')
    expect(res.body).toContain(`<span class="snap-id">${snap.shortId}</span>`)
    expect(res.body).toContain(`href="${base}"`)
    expect(res.body).not.toContain('Safety copies')
    expect(res.body).not.toContain('Incomplete')
  })

  it('shows the snapshot’s home as a table of links, without placeholders from the past', async () => {
    const res = await a.get(base)
    expect(res.status).toBe(200)
    const link = `${base}?dir=${encodeURIComponent(`${home}/public_html`)}`
    expect(res.body).toContain(`href="${link}"`)
    expect(res.body).toContain(`hx-get="${link}"`)
    expect(res.body).toContain('notes.txt')
    expect(res.body).not.toContain('restored-2026-11-22')
    expect(res.body).toContain(`value="${suggestedFolder(snap.time, ZONE)}"`)
    expect(pathBoxes(res.body).map(([p]) => p)).toEqual([
      `${home}/public_html`,
      `${home}/notes.txt`,
    ])
  })

  it('opens a folder without JavaScript as a full page, and to htmx as the tree alone', async () => {
    const url = `${base}?dir=${encodeURIComponent(`${home}/public_html/img`)}`
    const page = await a.get(url)
    expect(page.status).toBe(200)
    expect(page.body).toContain('<html')
    expect(page.body).toContain('logo.svg')
    expect(words(page.body)).toContain('Home folder / public_html / img')
    const part = await a.get(url, { 'hx-request': 'true' })
    expect(part.status).toBe(200)
    expect(part.body).not.toContain('<html')
    expect(part.body.startsWith('<div id="tree"')).toBe(true)
    expect(part.body).toContain('logo.svg')
    expect(part.body).not.toContain('notes.txt')
  })

  it('keeps what was ticked elsewhere when htmx opens another folder', async () => {
    const url = `${base}?dir=${encodeURIComponent(`${home}/public_html`)}&paths=${encodeURIComponent(`${home}/notes.txt`)}`
    const part = await a.get(url, { 'hx-request': 'true' })
    expect(pathBoxes(part.body)).toContainEqual([`${home}/notes.txt`, true])
    expect(pathBoxes(part.body)).toContainEqual([`${home}/public_html/index.html`, false])
  })

  it('finds a nested file by name across the snapshot, listed with its folder', async () => {
    const res = await a.get(`${base}?q=needle`)
    expect(res.status).toBe(200)
    expect(res.body).toContain('needle-report.txt')
    expect(words(res.body)).toContain('in public_html/deep/nested')
    expect(pathBoxes(res.body)).toEqual([
      [`${home}/public_html/deep/nested/needle-report.txt`, false],
    ])
    const part = await a.get(`${base}?q=LOGO`, { 'hx-request': 'true' })
    expect(part.body.startsWith('<div id="tree"')).toBe(true)
    expect(pathBoxes(part.body).map(([p]) => p)).toEqual([`${home}/public_html/img/logo.svg`])
  })

  it('browses and searches from the index alone: no restic once it is built', async () => {
    const repo = join(deps.config.localRoot, 'alice', 'repo')
    expect(existsSync(repo)).toBe(true)
    renameSync(repo, `${repo}.away`)
    try {
      for (const url of [
        base,
        `${base}?dir=${encodeURIComponent(`${home}/public_html/deep`)}`,
        `${base}?q=index`,
      ]) {
        expect((await a.get(url)).status, url).toBe(200)
        expect((await a.get(url, { 'hx-request': 'true' })).status, url).toBe(200)
      }
      expect((await a.get('/backups/restore')).body).toContain(snap.shortId)
    } finally {
      renameSync(`${repo}.away`, repo)
    }
  })

  it('keeps ticked paths ticked after a validation error and shows the error once', async () => {
    const ticked = [`${home}/public_html/img/logo.svg`, `${home}/notes.txt`]
    const res = await a.post(base, {
      what: 'files',
      paths: ticked,
      dir: `${home}/public_html`,
      mode: 'copy',
      newName: '',
    })
    expect(res.status).toBe(422)
    expect(count(res.body, 'Enter a name for the new folder.')).toBe(1)
    expect(res.body).toContain('id="f-newName-folder-error"')
    const boxes = pathBoxes(res.body)
    for (const p of ticked) expect(boxes.filter(([v]) => v === p)).toEqual([[p, true]])
    expect(boxes).toContainEqual([`${home}/public_html/index.html`, false])
    expect(await jobsOf()).toEqual([])

    const forged = await a.post(base, {
      what: 'files',
      paths: ['/etc/passwd'],
      mode: 'copy',
      newName: 'x',
    })
    expect(forged.status).toBe(422)
    expect(count(forged.body, 'Choose files and folders from this backup.')).toBe(1)
    expect(await jobsOf()).toEqual([])
  })

  it('asks before restoring the whole home in place, and queues nothing', async () => {
    const res = await a.post(base, { what: 'files', mode: 'inplace', newName: '' })
    expect(res.status).toBe(200)
    expect(words(res.body)).toContain('Your whole home folder')
    expect(res.body).toContain('A safety copy is taken first')
    expect(res.body).toContain('Yes, overwrite')
    expect(res.body).toContain('name="confirm" value="yes"')
    expect(await jobsOf()).toEqual([])
  })

  it('queues a copy restore of ticked files at once', async () => {
    const res = await a.post(base, {
      what: 'files',
      paths: [`${home}/notes.txt`],
      mode: 'copy',
      newName: 'from-backup',
    })
    expect(res.status).toBe(303)
    expect(res.location).toBe('/backups')
    const jobs = await jobsOf()
    expect(jobs.map((j) => j.payload)).toMatchObject([
      { mode: 'copy', newName: 'from-backup', paths: [`${home}/notes.txt`] },
    ])
    copyJob = jobs[0]!.id
  })

  it('restores ticked files in place only once confirmed, after a safety copy', async () => {
    const index = join(home, 'public_html/index.html')
    writeFileSync(index, '<h1>broken</h1>\n')
    const form = {
      what: 'files',
      paths: [`${home}/public_html/index.html`],
      mode: 'inplace',
      dir: `${home}/public_html`,
    }
    const ask = await a.post(base, form)
    expect(ask.status).toBe(200)
    expect(ask.body).toContain('<li class="mono">public_html/index.html</li>')
    expect(ask.body).toContain(
      `<input type="hidden" name="paths" value="${home}/public_html/index.html"`,
    )
    expect(ask.body).toContain(
      `href="${base}?dir=${encodeURIComponent(`${home}/public_html`)}&amp;paths=`,
    )
    expect((await jobsOf()).map((j) => j.id)).toEqual([copyJob])
    expect(readFileSync(index, 'utf8')).toBe('<h1>broken</h1>\n')

    const yes = await a.post(base, { ...form, confirm: 'yes' })
    expect(yes.status).toBe(303)
    const job = (await jobsOf()).find((j) => j.id !== copyJob)
    expect(job!.payload).toMatchObject({
      mode: 'inplace',
      paths: [`${home}/public_html/index.html`],
    })
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    const done = await waitJob(deps, alice.tenant.id, job!.id, 120_000)
    const copied = await waitJob(deps, alice.tenant.id, copyJob, 120_000)
    await runner.stop()
    runner = undefined
    expect(done.status, done.lastError ?? '').toBe('done')
    expect(copied.status, copied.lastError ?? '').toBe('done')
    expect(readFileSync(index, 'utf8')).toBe('<h1>v1</h1>\n')
    expect(readFileSync(join(home, 'from-backup/notes.txt'), 'utf8')).toBe('notes\n')

    const list = await a.get('/backups/restore')
    expect(list.body).toContain('Safety copies')
    expect(list.body).toContain('Before restoring public_html/index.html on ')
    // The safety copy holds just the overwritten file, and is browsable and restorable like any backup.
    const dest = await getDestination(deps.db, alice.tenant.id, Number(base.split('/')[3]))
    const safety = (await catalogSnapshots(deps, alice.tenant, dest)).find(
      (x) => x.kind === 'safety',
    )!
    expect(list.body).toContain(`href="/backups/restore/${dest.id}/${safety.id}"`)
    // Its file list is read once by the runner (an index job; see restore-catalog-jobs.test.ts).
    await ensureIndex(deps, alice.tenant, dest, safety)
    const inside = await a.get(
      `/backups/restore/${dest.id}/${safety.id}?dir=${encodeURIComponent(`${home}/public_html`)}`,
    )
    expect(inside.status).toBe(200)
    expect(pathBoxes(inside.body)).toEqual([[`${home}/public_html/index.html`, false]])
  }, 180_000)

  it.runIf(mariaOk)('offers only databases whose dump the snapshot holds', async () => {
    const res = await a.get(base)
    expect(res.body).toContain(`name="database" value="${shopId}"`)
    expect(res.body).not.toContain(`name="database" value="${blogId}"`)
    expect(res.body).toContain(`href="${base}/database/${shopId}"`)
    expect(res.body).toContain(`value="${suggestedDatabase('shop', snap.time, ZONE)}"`)
    expect(words(res.body)).toContain('Not in this backup: blog.')
  })

  it('refuses a forged restore of a database the snapshot holds no dump of, with a field error', async () => {
    for (const mode of ['copy', 'inplace']) {
      const res = await a.post(base, {
        what: 'database',
        database: String(blogId),
        mode,
        newName: 'blog_x',
      })
      expect(res.status, mode).toBe(422)
      expect(count(res.body, 'This backup holds no copy of the database blog')).toBe(1)
      expect(res.body).not.toContain('Yes, overwrite')
    }
    expect(await jobsOf()).toEqual([])
  })

  it.runIf(mariaOk)('asks before restoring a database in place', async () => {
    const res = await a.post(base, { what: 'database', database: String(shopId), mode: 'inplace' })
    expect(res.status).toBe(200)
    expect(words(res.body)).toContain('The database shop (MariaDB)')
    expect(res.body).toContain('A safety copy is taken first')
    expect(res.body).toContain(`href="${base}#db-${shopId}"`)
    expect(await jobsOf()).toEqual([])
  })

  it('another tenant’s destination or snapshot is a 404, also to htmx and to a POST', async () => {
    const dir = `?dir=${encodeURIComponent(`${home}/public_html`)}`
    const bobs = `/backups/restore/${bobDestId}/${snap.id}`
    for (const url of [base, base + dir, `${base}?q=needle`, bobs]) {
      const page = await b.get(url)
      expect(page.status, url).toBe(404)
      expect(page.body).not.toContain('notes.txt')
      expect((await b.get(url, { 'hx-request': 'true' })).status, url).toBe(404)
    }
    const post = await b.post(base, { what: 'files', mode: 'inplace', confirm: 'yes' })
    expect(post.status).toBe(404)
    expect(await jobsOf()).toEqual([])
    expect((await b.get('/backups/restore')).body).not.toContain(snap.shortId)
  })

  it('a folder outside the home or missing from the snapshot is a 404', async () => {
    for (const dir of ['/etc', `${home}/nope`, `${home}/notes.txt`, `${home}/../x`]) {
      expect((await a.get(`${base}?dir=${encodeURIComponent(dir)}`)).status, dir).toBe(404)
    }
  })
})
