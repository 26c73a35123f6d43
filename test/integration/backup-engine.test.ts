import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import {
  existsSync,
  statSync,
  linkSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  mkdirSync,
  chmodSync,
  readdirSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
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
import { listRuns, runStagesOf } from '../../src/db/runs.ts'
import {
  repositories,
  runLogs,
  runStages,
  runs as runsTable,
  type JobRow,
} from '../../src/db/schema.ts'
import { findRepository, repositoryPassword } from '../../src/db/repositories.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { streamTar } from '../../src/engine/restic/download.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { seal } from '../../src/secret-box.ts'

const SECRET_B = 'BOB-PRIVATE-BYTES-7f3a'
const ROOT_ONLY = 'ROOT-ONLY-BYTES-91c2'

/** Collects a snapshot path as tar bytes. */
async function tarOf(
  deps: any,
  tenant: any,
  dest: any,
  snapshot: string,
  path: string,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  await streamTar(deps, tenant, dest, snapshot, path, (s) =>
    s.on('data', (c: Buffer) => chunks.push(c)),
  )
  return Buffer.concat(chunks)
}

describe.runIf(rootAvailable())('backups through the runner (Local destination)', () => {
  const deps = freshDeps()
  let runner: Runner
  let alice: Awaited<ReturnType<typeof realTenant>>
  let bob: Awaited<ReturnType<typeof realTenant>>
  const rootDir = mkdtempSync(join(tmpdir(), 'rootonly-'))

  beforeAll(async () => {
    bob = await realTenant(deps, 'bob', { 'private/secret.txt': SECRET_B })
    chmodSync(join(bob.home, 'private'), 0o700)
    chmodSync(bob.home, 0o700)
    alice = await realTenant(deps, 'alice', {
      'public_html/index.html': '<h1>alice</h1>\n',
      'public_html/cache/tmp.html': 'cache\n',
    })
    writeFileSync(join(rootDir, 'root-only.txt'), ROOT_ONLY, { mode: 0o600 })
    symlinkSync(join(bob.home, 'private/secret.txt'), join(alice.home, 'link-to-bob'))
    symlinkSync('/etc/shadow', join(alice.home, 'link-to-shadow'))
    // A hard link made by root (a tenant could not) to a root-only file inside alice's home.
    linkSync(join(rootDir, 'root-only.txt'), join(alice.home, 'hardlink-root'))
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
  })
  afterAll(async () => {
    await runner?.stop()
    removeUsers()
    rmSync(rootDir, { recursive: true, force: true })
  })

  it('stores links as links and never the bytes of other tenants or root-only files', async () => {
    const dest = await localDestination(deps, alice.tenant.id)
    await policy(deps, alice.tenant.id, [dest.id], { exclude: '**/cache/**' })
    const policyId = (await deps.db.query.policies.findFirst())!.id
    const { job } = await requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
    runner.wake()
    expect((await waitJob(deps, alice.tenant.id, job.id)).status).toBe('done')
    const [run] = await listRuns(deps.db, alice.tenant.id)
    // The root-only hard link cannot be read by alice's user: the run is honest about it.
    expect(run!.status).toBe('partial')
    const snap = (await runStagesOf(deps.db, run!.id)).find((s) => s.name === 'snapshot')!
    expect(snap.status).toBe('partial')
    expect((snap.details as any).unreadable.join()).toContain('hardlink-root')
    const [snapshot] = await listSnapshots(deps, alice.tenant, dest)
    const tar = await tarOf(deps, alice.tenant, dest, snapshot!.id, alice.home)
    expect(tar.includes(SECRET_B)).toBe(false)
    expect(tar.includes(ROOT_ONLY)).toBe(false)
    expect(tar.includes('root:')).toBe(false) // nothing of /etc/shadow
    expect(tar.includes('<h1>alice</h1>')).toBe(true)
    expect(tar.includes('cache\n')).toBe(false)
    expect(tar.includes(join(bob.home, 'private/secret.txt'))).toBe(true) // the link target, as a name
  })

  it('restores a link out of the home as a link, writing nothing outside the target', async () => {
    const dest = await getDestination(
      deps.db,
      alice.tenant.id,
      (await deps.db.query.destinations.findFirst())!.id,
    )
    const [snapshot] = await listSnapshots(deps, alice.tenant, dest)
    const before = readFileSync(join(bob.home, 'private/secret.txt'), 'utf8')
    const job = await requestRestore(deps.db, alice.tenant.id, {
      destinationId: dest.id,
      snapshot: snapshot!.id,
      paths: [],
      mode: 'copy',
      newName: 'restored',
    })
    runner.wake()
    expect((await waitJob(deps, alice.tenant.id, job.id)).status).toBe('done')
    const out = join(alice.home, 'restored')
    expect(readFileSync(join(out, 'public_html/index.html'), 'utf8')).toBe('<h1>alice</h1>\n')
    expect(
      execFileSync('readlink', [join(out, 'link-to-shadow')], { encoding: 'utf8' }).trim(),
    ).toBe('/etc/shadow')
    expect(readFileSync(join(bob.home, 'private/secret.txt'), 'utf8')).toBe(before)
    expect(readdirSync(join(bob.home, 'private'))).toEqual(['secret.txt'])
  })

  it('gives one run for two triggers of the same policy at once', async () => {
    const policyId = (await deps.db.query.policies.findFirst())!.id
    const a = await requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
    const b = await requestBackup(deps.db, alice.tenant.id, policyId, 'schedule')
    expect(b.job.id).toBe(a.job.id)
    expect(b.created).toBe(false)
    runner.wake()
    await waitJob(deps, alice.tenant.id, a.job.id)
    expect(
      (await listRuns(deps.db, alice.tenant.id)).filter((r) => r.jobId === a.job.id),
    ).toHaveLength(1)
  })

  it('retention forgets beyond the policy and prunes at most once a day', async () => {
    const destId = (await deps.db.query.destinations.findFirst())!.id
    const policyId = await policy(deps, alice.tenant.id, [destId], {
      name: 'Retention',
      exclude: 'hardlink-root',
      // "Keep the last 1" applies at once (a day's rule would keep today's backups until tonight).
      keepLast: '1',
      keepDaily: '0',
      keepWeekly: '0',
      keepMonthly: '0',
    })
    const messages: string[] = []
    for (let i = 0; i < 3; i++) {
      const { job } = await requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
      runner.wake()
      await waitJob(deps, alice.tenant.id, job.id)
      const run = (await listRuns(deps.db, alice.tenant.id)).find((r) => r.jobId === job.id)!
      messages.push(
        (await runStagesOf(deps.db, run.id)).find((s) => s.name === 'retention')!.message!,
      )
    }
    // keep-last 1: the earlier snapshot is forgotten each time; prune ran once today.
    expect(messages).toEqual([
      'Nothing to remove.',
      'Removed 1 old snapshot(s); their space was reclaimed.',
      'Removed 1 old snapshot(s); their space is reclaimed at the next daily prune.',
    ])
    const dest = await getDestination(deps.db, alice.tenant.id, destId)
    const all = await listSnapshots(deps, alice.tenant, dest)
    const mine = all.filter((s) => s.tags.includes(`policy:${policyId}`))
    expect(mine).toHaveLength(1)
    // What the admin's Tenants page and the quotas count is what the repository holds.
    const repoDir = join(deps.config.localRoot, 'alice', 'repo')
    const onDisk = readdirSync(repoDir, { recursive: true, encoding: 'utf8' })
      .map((rel) => statSync(join(repoDir, rel)))
      .filter((st) => st.isFile())
      .reduce((sum, st) => sum + st.size, 0)
    const repo = (await findRepository(deps.db, alice.tenant.id, destId))!
    expect(repo.snapshotCount).toBe(all.length)
    expect(repo.storedBytes).toBe(onDisk)
  })

  it('stock restic, given only the recovery kit, restores the repository byte for byte', async () => {
    const dest = await getDestination(
      deps.db,
      alice.tenant.id,
      (await deps.db.query.destinations.findFirst())!.id,
    )
    const kit = await recoveryKit(deps, alice.tenant, dest)
    const target = mkdtempSync(join(tmpdir(), 'kit-restore-'))
    const env = {
      PATH: process.env.PATH,
      RESTIC_REPOSITORY: kit.repository,
      RESTIC_PASSWORD: kit.password,
      RESTIC_CACHE_DIR: join(target, '.cache'),
    }
    const res = spawnSync(
      'restic',
      [
        'restore',
        'latest',
        '--tag',
        `policy:${(await deps.db.query.policies.findFirst())!.id}`,
        '--target',
        target,
      ],
      { env, encoding: 'utf8' },
    )
    expect(res.status, res.stderr).toBe(0)
    expect(readFileSync(join(target, alice.home, 'public_html/index.html'))).toEqual(
      readFileSync(join(alice.home, 'public_html/index.html')),
    )
    expect(kit.command).toContain(`RESTIC_REPOSITORY='${kit.repository}'`)
    rmSync(target, { recursive: true, force: true })
  })

  it('a wrong repository password fails once with a plain reason, no retry, nothing lost', async () => {
    const dest = await localDestination(deps, alice.tenant.id, 'other', 'Other')
    const pid = await policy(deps, alice.tenant.id, [dest.id], { name: 'Second' })
    const first = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
    runner.wake()
    await waitJob(deps, alice.tenant.id, first.job.id)
    const repoDir = join(deps.config.localRoot, 'alice', 'other')
    const filesBefore = readdirSync(join(repoDir, 'snapshots'))
    await deps.db
      .update(repositories)
      .set({
        passwordSealed: seal(
          deps.config.secretKey,
          'not-the-password',
          `repository:${alice.tenant.id}:${dest.id}`,
        ),
      })
      .where(eq(repositories.destinationId, dest.id))
    const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
    runner.wake()
    const done = await waitJob(deps, alice.tenant.id, job.id)
    expect(done.status).toBe('failed')
    expect(done.attempts).toBe(1)
    expect(done.lastError).toMatch(/repository password is wrong/)
    expect(readdirSync(join(repoDir, 'snapshots'))).toEqual(filesBefore)
  })

  it('a full disk (small tmpfs) fails with a plain reason, retries, and loses nothing stored', async () => {
    const mnt = join(deps.config.localRoot, 'alice', 'tiny')
    mkdirSync(mnt, { recursive: true })
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt])
    try {
      writeFileSync(join(alice.home, 'big.bin'), randomBytes(3_000_000)) // incompressible: restic compresses
      const dest = await localDestination(deps, alice.tenant.id, 'tiny', 'Tiny')
      const pid = await policy(deps, alice.tenant.id, [dest.id], {
        name: 'Tiny',
        exclude: 'hardlink-root',
      })
      const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
      runner.wake()
      const end = Date.now() + 90_000
      let current: JobRow = job
      while (Date.now() < end) {
        current = (await deps.db.query.jobs.findFirst({ where: (j, { eq }) => eq(j.id, job.id) }))!
        if (current.lastError || current.status === 'failed') break
        await new Promise((r) => setTimeout(r, 200))
      }
      expect(current.lastError).toMatch(/out of space|disk is full/)
      expect(current.status).toBe('queued') // transient: it will retry
      const run = (await listRuns(deps.db, alice.tenant.id)).find((r) => r.jobId === job.id)!
      expect(run.status).toBe('failed')
      expect(run.error).toMatch(/Tiny: .*(out of space|disk is full)/)
    } finally {
      await runner.stop()
      spawnSync('umount', ['-l', mnt])
      runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
    }
    // The earlier repository on another destination is intact.
    expect(existsSync(join(deps.config.localRoot, 'alice', 'repo', 'config'))).toBe(true)
  }, 150_000)

  it('an unwritable destination fails with a plain reason and is not retried', async () => {
    const mnt = join(deps.config.localRoot, 'alice', 'readonly')
    mkdirSync(mnt, { recursive: true })
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt])
    try {
      const dest = await localDestination(deps, alice.tenant.id, 'readonly', 'Read-only')
      const pid = await policy(deps, alice.tenant.id, [dest.id], {
        name: 'RO',
        exclude: 'hardlink-root',
      })
      const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
      runner.wake()
      const done = await waitJob(deps, alice.tenant.id, job.id, 60_000)
      expect(done.status).toBe('failed')
      expect(done.attempts).toBe(1)
      expect(done.lastError).toMatch(/Read-only: .*not writable/)
    } finally {
      spawnSync('umount', ['-l', mnt])
    }
  }, 90_000)

  it('never writes a repository password or the bridge credentials into logs or status', async () => {
    const passwords = (await deps.db.select().from(repositories)).map((r) =>
      repositoryPassword(deps.config.secretKey, r),
    )
    const text = JSON.stringify([
      await deps.db.select().from(runLogs),
      await deps.db.select().from(runStages),
      await deps.db.select().from(runsTable),
      await deps.db.query.jobs.findMany(),
    ])
    expect(passwords.length).toBeGreaterThan(2)
    for (const p of passwords) expect(text).not.toContain(p)
    expect(text).not.toMatch(/rest:http/)
  })
})
