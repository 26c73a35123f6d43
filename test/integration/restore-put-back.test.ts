import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { requestBackup, requestRestore } from '../../src/domain/jobs.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { latestRunOfJob, runStagesOf } from '../../src/db/runs.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { putBack } from '../../src/engine/host/put-back.ts'
import type { RestorePayload } from '../../src/db/job-payloads.ts'

const LOSSY = Buffer.from('caf\xe9.txt', 'latin1')

/** Whether this machine lets us mount a tmpfs (a second filesystem for the cross-device cases). */
function canMount(): boolean {
  if (process.getuid?.() !== 0) return false
  const dir = mkdtempSync(join(tmpdir(), 'mount-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' })
    execFileSync('umount', [dir])
    return true
  } catch {
    return false
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe.runIf(rootAvailable())('putting a restored tree back (renames, as the tenant)', () => {
  const deps = freshDeps()
  const mounts: string[] = []
  let t: Awaited<ReturnType<typeof realTenant>>
  let runner: Runner
  let destId = 0
  let snapshot = ''
  const home = (...parts: string[]) => join(t.home, ...parts)
  const who = () => ({ uid: t.uid, gid: t.gid })
  const own = (...paths: string[]) => paths.forEach((p) => chownSync(p, t.uid, t.gid))
  /** A folder the tenant can write, outside the home: what a planted link points at. */
  function victim(): string {
    const dir = mkdtempSync(join(tmpdir(), 'victim-'))
    own(dir)
    return dir
  }
  function mountTmpfs(dir: string) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir])
    mounts.push(dir)
  }

  async function restore(input: Omit<RestorePayload, 'destinationId' | 'snapshot'>) {
    const job = await requestRestore(deps.db, t.tenant.id, {
      destinationId: destId,
      snapshot,
      ...input,
    })
    runner.wake()
    const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
    const run = (await latestRunOfJob(deps.db, t.tenant.id, job.id))!
    return { job: done, stages: await runStagesOf(deps.db, run.id) }
  }

  beforeAll(async () => {
    t = await realTenant(deps, 'putback', {
      'site/index.html': '<h1>v1</h1>\n',
      'site/about.html': 'about v1\n',
      'notes.txt': 'notes v1\n',
    })
    destId = (await localDestination(deps, t.tenant.id)).id
    const policyId = await policy(deps, t.tenant.id, [destId], { name: 'Home' })
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
    runner.wake()
    const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
    expect(done.status, done.lastError ?? '').toBe('done')
    const dest = await getDestination(deps.db, t.tenant.id, destId)
    snapshot = (await listSnapshots(deps, t.tenant, dest))[0]!.id
  }, 120_000)
  afterAll(async () => {
    await runner?.stop()
    for (const dir of mounts.reverse()) execFileSync('umount', ['-l', dir])
    removeUsers()
  })

  it('moves files by rename (same inode, no second copy), merges folders and never follows a link in the target', async () => {
    const base = mkdtempSync(join(tmpdir(), 'putback-'))
    own(base)
    const staged = join(base, 'staged')
    const target = join(base, 'target')
    const elsewhere = victim()
    for (const dir of [staged, target, join(staged, 'site'), join(staged, 'linked')]) {
      mkdirSync(dir)
      own(dir)
    }
    const file = (path: string | Buffer, data: string | Buffer) => {
      writeFileSync(path, data)
      own(path as string)
    }
    file(join(staged, 'big.bin'), Buffer.alloc(8 << 20, 7))
    file(join(staged, 'site', 'index.html'), 'restored\n')
    file(join(staged, 'linked', 'inside.txt'), 'restored inside\n')
    file(join(staged, 'was-link.txt'), 'a file again\n')
    file(Buffer.concat([Buffer.from(`${staged}/`), LOSSY]), 'lossy\n')
    // A read-only folder: moving it needs u+w on it for a moment; its mode comes back.
    mkdirSync(join(staged, 'ro'))
    file(join(staged, 'ro', 'kept.txt'), 'ro\n')
    execFileSync('chmod', ['0555', join(staged, 'ro')])
    own(join(staged, 'ro'))
    const inode = statSync(join(staged, 'big.bin')).ino
    // The target: a folder to merge (with a file the backup does not have), a file to replace,
    // and links planted where the backup has a folder and a file.
    mkdirSync(join(target, 'site'))
    own(join(target, 'site'))
    file(join(target, 'site', 'index.html'), 'changed\n')
    file(join(target, 'site', 'extra.html'), 'not in the backup\n')
    file(join(target, 'big.bin'), 'old\n')
    symlinkSync(elsewhere, join(target, 'linked'))
    symlinkSync(join(elsewhere, 'target.txt'), join(target, 'was-link.txt'))
    file(join(elsewhere, 'target.txt'), 'untouched\n')

    const put = await putBack(who(), staged, target)

    expect(put).toMatchObject({ copied: 0, failed: [], failedCount: 0 })
    expect(statSync(join(target, 'big.bin')).ino, 'renamed, not copied').toBe(inode)
    expect(readFileSync(join(target, 'site', 'index.html'), 'utf8')).toBe('restored\n')
    expect(readFileSync(join(target, 'site', 'extra.html'), 'utf8')).toBe('not in the backup\n')
    expect(lstatSync(join(target, 'linked')).isDirectory()).toBe(true)
    expect(readFileSync(join(target, 'linked', 'inside.txt'), 'utf8')).toBe('restored inside\n')
    expect(lstatSync(join(target, 'was-link.txt')).isFile()).toBe(true)
    expect(readdirSync(elsewhere), 'nothing written through a link').toEqual(['target.txt'])
    expect(readFileSync(join(elsewhere, 'target.txt'), 'utf8')).toBe('untouched\n')
    expect(readFileSync(Buffer.concat([Buffer.from(`${target}/`), LOSSY]), 'utf8')).toBe('lossy\n')
    expect(statSync(join(target, 'ro')).mode & 0o777).toBe(0o555)
    expect(readFileSync(join(target, 'ro', 'kept.txt'), 'utf8')).toBe('ro\n')
    // What is left of the staging is folders only: every file was moved out of it.
    expect(execFileSync('find', [staged, '!', '-type', 'd'], { encoding: 'utf8' })).toBe('')
    rmSync(base, { recursive: true, force: true })
    rmSync(elsewhere, { recursive: true, force: true })
  })

  it('reports what it could not put back, and does not follow a folder link even when the backup has a file there', async () => {
    const base = mkdtempSync(join(tmpdir(), 'putback-'))
    own(base)
    const staged = join(base, 'staged')
    const target = join(base, 'target')
    const elsewhere = victim()
    mkdirSync(join(staged, 'locked'), { recursive: true })
    mkdirSync(join(target, 'locked'), { recursive: true })
    mkdirSync(join(target, 'folder'))
    execFileSync('chown', ['-R', `${t.uid}:${t.gid}`, base])
    writeFileSync(join(staged, 'locked', 'a.txt'), 'a\n')
    writeFileSync(join(staged, 'folder'), 'a file where a folder is now\n')
    writeFileSync(join(staged, 'link'), 'a file where a link to a folder is\n')
    execFileSync('chown', ['-R', `${t.uid}:${t.gid}`, staged])
    symlinkSync(elsewhere, join(target, 'link'))
    chownSync(join(target, 'locked'), 0, 0)

    const put = await putBack(who(), staged, target)

    expect(put.failed).toEqual(
      expect.arrayContaining([
        { path: 'locked/a.txt', reason: 'permission denied' },
        { path: 'folder', reason: 'a folder is in the way' },
      ]),
    )
    expect(lstatSync(join(target, 'link')).isFile()).toBe(true)
    expect(readdirSync(elsewhere)).toEqual([])
    expect(existsSync(join(target, 'locked', 'a.txt'))).toBe(false)
    rmSync(base, { recursive: true, force: true })
    rmSync(elsewhere, { recursive: true, force: true })
  })

  it.runIf(canMount())(
    'copies, without following links, only what lies on another filesystem',
    async () => {
      const base = mkdtempSync(join(tmpdir(), 'putback-'))
      const staged = join(base, 'staged')
      const target = join(base, 'target')
      const elsewhere = victim()
      mkdirSync(join(staged, 'mnt', 'sub'), { recursive: true })
      mkdirSync(join(target, 'mnt'), { recursive: true })
      mountTmpfs(join(target, 'mnt'))
      writeFileSync(join(staged, 'mnt', 'sub', 'f.txt'), 'copied\n')
      writeFileSync(join(staged, 'mnt', 'g.txt'), 'copied too\n')
      writeFileSync(join(staged, 'here.txt'), 'renamed\n')
      execFileSync('chown', ['-R', `${t.uid}:${t.gid}`, base])
      symlinkSync(join(elsewhere, 'g.txt'), join(target, 'mnt', 'g.txt'))

      const put = await putBack(who(), staged, target)

      expect(put).toMatchObject({ copied: 2, failed: [] })
      expect(readFileSync(join(target, 'mnt', 'sub', 'f.txt'), 'utf8')).toBe('copied\n')
      expect(lstatSync(join(target, 'mnt', 'g.txt')).isFile()).toBe(true)
      expect(readdirSync(elsewhere)).toEqual([])
      expect(readFileSync(join(target, 'here.txt'), 'utf8')).toBe('renamed\n')
      execFileSync('umount', [join(target, 'mnt')])
      mounts.pop()
      rmSync(base, { recursive: true, force: true })
      rmSync(elsewhere, { recursive: true, force: true })
    },
  )

  it('restores in place over a folder link planted after the backup without writing through it, and leaves no staging', async () => {
    const elsewhere = victim()
    rmSync(home('site'), { recursive: true })
    symlinkSync(elsewhere, home('site'))
    execFileSync('chown', ['-h', `${t.uid}:${t.gid}`, home('site')])
    writeFileSync(home('notes.txt'), 'notes v2\n')
    // A staging folder left in the home by a runner that died goes away too.
    mkdirSync(home('.panel-restore-run-999'))
    own(home('.panel-restore-run-999'))

    const r = await restore({ paths: [], mode: 'inplace' })

    expect(r.job.status, r.job.lastError ?? '').toBe('done')
    expect(r.stages.map((s) => [s.name, s.status])).toEqual([
      ['prepare', 'success'],
      ['safety-snapshot', 'success'],
      ['restore-files', 'success'],
    ])
    expect(readdirSync(elsewhere), 'nothing written through the link').toEqual([])
    expect(lstatSync(home('site')).isDirectory()).toBe(true)
    expect(readFileSync(home('site', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n')
    expect(readFileSync(home('notes.txt'), 'utf8')).toBe('notes v1\n')
    expect(readdirSync(t.home).filter((n) => n.startsWith('.panel-restore'))).toEqual([])
    expect(readdirSync(join(deps.config.workDir, t.tenant.name, 'restore'))).toEqual([])
    rmSync(elsewhere, { recursive: true, force: true })
  })

  it.runIf(canMount())(
    'stages in the home when the work dir is on another filesystem, so putting back is still renames',
    async () => {
      // The home moves onto its own filesystem (a tmpfs), the work dir stays where it is.
      const before = readFileSync(home('site', 'about.html'), 'utf8')
      mountTmpfs(t.home)
      execFileSync('chown', [`${t.uid}:${t.gid}`, t.home])
      const work = join(deps.config.workDir, t.tenant.name, 'restore')
      expect(statSync(t.home).dev).not.toBe(statSync(work).dev)
      const r = await restore({ paths: [home('site')], mode: 'inplace' })
      expect(r.job.status, r.job.lastError ?? '').toBe('done')
      expect(readFileSync(home('site', 'about.html'), 'utf8')).toBe(before)
      expect(readdirSync(t.home)).toEqual(['site'])
      // Into a new folder from a home on its own filesystem: one rename from the home's staging.
      const copy = await restore({ paths: [], mode: 'copy', newName: 'again' })
      expect(copy.job.status, copy.job.lastError ?? '').toBe('done')
      expect(readFileSync(home('again', 'notes.txt'), 'utf8')).toBe('notes v1\n')
      expect(readdirSync(t.home).sort()).toEqual(['again', 'site'])
      // A home the tenant may not write in (a chrooted SFTP home is root's): no staging in it,
      // the work dir's instead, and what lies on the home's filesystem is copied.
      execFileSync('chown', ['0:0', t.home])
      execFileSync('chmod', ['0755', t.home])
      writeFileSync(home('site', 'about.html'), 'changed\n')
      const chrooted = await restore({ paths: [home('site')], mode: 'inplace' })
      expect(chrooted.job.status, chrooted.job.lastError ?? '').toBe('done')
      expect(readFileSync(home('site', 'about.html'), 'utf8')).toBe(before)
      expect(readdirSync(t.home).sort()).toEqual(['again', 'site'])
      expect(readdirSync(work)).toEqual([])
      execFileSync('umount', [t.home])
      mounts.pop()
    },
  )
})
