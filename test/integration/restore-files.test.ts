import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { execFileSync } from 'node:child_process'
import {
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
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
import { InputError } from '../../src/errors.ts'
import { requestRestoreChecked } from '../../src/domain/restore-request.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { latestRunOfJob, runStagesOf } from '../../src/db/runs.ts'
import { catalogOf } from '../../src/db/snapshots.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { getJob } from '../../src/db/jobs.ts'
import { listDir, listSnapshots, withRepository } from '../../src/engine/restic/snapshots.ts'
import { runRestic } from '../../src/engine/restic/restic.ts'
import { backupCommands } from '../../src/cli/backups.ts'
import type { CliDeps } from '../../src/cli/command.ts'
import type { RestorePayload } from '../../src/db/job-payloads.ts'

// "café.txt" in Latin-1: the byte 0xE9 alone is not UTF-8.
const LOSSY = Buffer.from('caf\xe9.txt', 'latin1')
const LOSSY_BYTES = Buffer.from([0x00, 0xff, 0xe9, 0x0a, 0x42])
const GLOB_NAME = 'odd [1]*?.txt'

describe.runIf(rootAvailable())('restoring files (real restic, as the tenant)', () => {
  const deps = freshDeps()
  let runner: Runner
  let t: Awaited<ReturnType<typeof realTenant>>
  let destId = 0
  let policyId = 0
  let first = ''

  const dest = () => getDestination(deps.db, t.tenant.id, destId)
  const home = (...parts: string[]) => join(t.home, ...parts)
  const lossyPath = (dir: string) => Buffer.concat([Buffer.from(`${dir}/`), LOSSY])
  const staging = () =>
    readdirSync(join(deps.config.workDir, t.tenant.name, 'restore')).filter((n) =>
      n.startsWith('run-'),
    )

  async function fullId(short: string): Promise<string> {
    return (await listSnapshots(deps, t.tenant, await dest())).find((s) => s.id.startsWith(short))!
      .id
  }

  async function backup(): Promise<string> {
    const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
    runner.wake()
    const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
    expect(done.status, done.lastError ?? '').toBe('done')
    const stage = (
      await runStagesOf(deps.db, (await latestRunOfJob(deps.db, t.tenant.id, job.id))!.id)
    ).find((s) => s.name === 'snapshot')
    return fullId(stage!.snapshotId!)
  }

  async function restore(
    input: Omit<RestorePayload, 'destinationId' | 'snapshot'> & { snapshot?: string },
  ) {
    const job = await requestRestoreChecked(deps, t.tenant, {
      destinationId: destId,
      snapshot: first,
      ...input,
    })
    runner.wake()
    const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
    const run = (await latestRunOfJob(deps.db, t.tenant.id, job.id))!
    return { job: done, run, stages: await runStagesOf(deps.db, run.id) }
  }

  /** Writes as root, then gives the file to the tenant (as their own editor would leave it). */
  function write(path: string | Buffer, data: string | Buffer) {
    writeFileSync(path, data)
    chownSync(path, t.uid, t.gid)
  }

  beforeAll(async () => {
    t = await realTenant(deps, 'rfiles', {
      'site/index.html': '<h1>v1</h1>\n',
      'site/about.html': 'about v1\n',
      'notes.txt': 'notes v1\n',
      [`glob/${GLOB_NAME}`]: 'odd v1\n',
      'glob/odd 1.txt': 'a neighbour the pattern must not catch\n',
    })
    mkdirSync(home('docs'))
    chownSync(home('docs'), t.uid, t.gid)
    write(lossyPath(home('docs')), LOSSY_BYTES)
    write(home('docs', 'plain.txt'), 'plain\n')
    destId = (await localDestination(deps, t.tenant.id)).id
    policyId = await policy(deps, t.tenant.id, [destId], { name: 'Home' })
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    first = await backup()
  }, 120_000)
  afterAll(async () => {
    await runner?.stop()
    removeUsers()
  })

  it('keeps only the paths that exist now as a safety copy, recorded in the catalog, and skips it when none does', async () => {
    unlinkSync(home('notes.txt'))
    write(home('site', 'index.html'), '<h1>v2, unsaved elsewhere</h1>\n')
    const r = await restore({
      paths: [home('notes.txt'), home('site', 'index.html')],
      mode: 'inplace',
    })
    expect(r.job.status, r.job.lastError ?? '').toBe('done')
    expect(readFileSync(home('notes.txt'), 'utf8')).toBe('notes v1\n')
    expect(readFileSync(home('site', 'index.html'), 'utf8')).toBe('<h1>v1</h1>\n')
    // Recorded by the run (runId), before any sync with restic.
    const row = (await catalogOf(deps.db, t.tenant.id, destId)).find((s) => s.runId === r.run.id)!
    expect(row).toMatchObject({
      kind: 'safety',
      complete: false,
      paths: [home('site', 'index.html')],
    })
    expect(r.stages.find((s) => s.name === 'safety-snapshot')!.message).toMatch(
      /^Your files as they were before this restore are kept as a safety copy: Restore > Safety copies, “Before restoring 2 paths” on \w{3} \d{1,2} \w{3,4} \d{4}, \d\d:\d\d \(UTC\)\.$/,
    )
    // What the safety copy holds is the version the restore overwrote.
    const back = await restore({
      snapshot: row.snapshotId,
      paths: [home('site', 'index.html')],
      mode: 'copy',
      newName: 'before',
    })
    expect(back.job.status, back.job.lastError ?? '').toBe('done')
    expect(readFileSync(home('before', 'site', 'index.html'), 'utf8')).toBe(
      '<h1>v2, unsaved elsewhere</h1>\n',
    )

    unlinkSync(home('notes.txt'))
    const none = await restore({ paths: [home('notes.txt')], mode: 'inplace' })
    expect(none.job.status, none.job.lastError ?? '').toBe('done')
    expect(none.stages.map((s) => [s.name, s.status])).toEqual([
      ['prepare', 'success'],
      ['safety-snapshot', 'skipped'],
      ['restore-files', 'success'],
    ])
    expect(
      (await catalogOf(deps.db, t.tenant.id, destId)).filter((s) => s.runId === none.run.id),
    ).toEqual([])
    expect(readFileSync(home('notes.txt'), 'utf8')).toBe('notes v1\n')
  })

  it('removes its staging copy when the restore fails after restic restored into it', async () => {
    // The tenant can read site/ (so the safety copy works) but no longer write in it.
    execFileSync('chown', ['-R', 'root:root', home('site')])
    try {
      const r = await restore({ paths: [home('site')], mode: 'inplace' })
      expect(r.job.status).toBe('failed')
      expect(r.job.lastError).toMatch(
        /^Some files could not be put back in your home: site\/\w+\.html: permission denied \(and 1 more\)\. Your files as they were before this restore are kept as a safety copy: Restore > Safety copies, “Before restoring site” on /,
      )
      expect(r.job.attempts, 'not retried over a half-restored home').toBe(1)
      expect(r.stages.find((s) => s.name === 'restore-files')!.status).toBe('failed')
      expect(staging()).toEqual([])
    } finally {
      execFileSync('chown', ['-R', `${t.uid}:${t.gid}`, home('site')])
    }
    // Into a folder that already exists: refused in plain words, nothing left behind either.
    mkdirSync(home('taken'))
    // The form refuses it beside the field, before anything is queued…
    const refused = await restore({ paths: [home('site')], mode: 'copy', newName: 'taken' }).catch(
      (e) => e,
    )
    expect(refused).toBeInstanceOf(InputError)
    expect(refused.errors.newName).toBe(
      'A folder named “taken” already exists in your home: choose another name.',
    )
    // …and a job queued anyway (the folder appeared meanwhile) fails in the same words.
    const queued = await requestRestore(deps.db, t.tenant.id, {
      destinationId: destId,
      snapshot: first,
      paths: [home('site')],
      mode: 'copy',
      newName: 'taken',
    })
    runner.wake()
    const taken = { job: await waitJob(deps, t.tenant.id, queued.id, 120_000) }
    expect(taken.job.status).toBe('failed')
    expect(taken.job.attempts, 'not retried').toBe(1)
    expect(taken.job.lastError).toBe(
      'A folder named “taken” already exists in your home: choose another name.',
    )
    expect(readdirSync(home('taken'))).toEqual([])
    expect(staging()).toEqual([])
  })

  it('restores a file whose name is not UTF-8, alone, into a new folder and in place, byte for byte', async () => {
    const docs = await listDir(deps, t.tenant, await dest(), first, home('docs'))
    const node = docs.find((n) => n.lossy)!
    expect(node.name).toBe('caf\uFFFD.txt')
    const copy = await restore({ paths: [node.path], mode: 'copy', newName: 'lossy-copy' })
    expect(copy.job.status, copy.job.lastError ?? '').toBe('done')
    expect(readdirSync(home('lossy-copy', 'docs'), { encoding: 'buffer' })).toEqual([LOSSY])
    expect(readFileSync(lossyPath(home('lossy-copy', 'docs'))).equals(LOSSY_BYTES)).toBe(true)

    write(lossyPath(home('docs')), 'changed\n')
    const inPlace = await restore({ paths: [node.path], mode: 'inplace' })
    expect(inPlace.job.status, inPlace.job.lastError ?? '').toBe('done')
    expect(readFileSync(lossyPath(home('docs'))).equals(LOSSY_BYTES)).toBe(true)
    // The changed version went into the safety copy first (the name found by its bytes).
    const safety = (await catalogOf(deps.db, t.tenant.id, destId)).find(
      (s) => s.runId === inPlace.run.id,
    )!
    expect(safety.paths).toEqual([node.path])
    const back = await restore({
      snapshot: safety.snapshotId,
      paths: [node.path],
      mode: 'copy',
      newName: 'lossy-before',
    })
    expect(back.job.status, back.job.lastError ?? '').toBe('done')
    expect(readFileSync(lossyPath(home('lossy-before', 'docs')), 'utf8')).toBe('changed\n')

    // Glob characters in a name are literal: its neighbour "odd 1.txt" stays out.
    const odd = await restore({
      paths: [home('glob', GLOB_NAME)],
      mode: 'copy',
      newName: 'glob-copy',
    })
    expect(odd.job.status, odd.job.lastError ?? '').toBe('done')
    expect(readdirSync(home('glob-copy', 'glob'))).toEqual([GLOB_NAME])
  })

  it('keeps the old queue entry point working (requestRestore) for a whole-home copy', async () => {
    const job = await requestRestore(deps.db, t.tenant.id, {
      destinationId: destId,
      snapshot: first,
      paths: [],
      mode: 'copy',
      newName: 'everything',
    })
    runner.wake()
    const done = await waitJob(deps, t.tenant.id, job.id, 120_000)
    expect(done.status, done.lastError ?? '').toBe('done')
    expect(readFileSync(home('everything', 'site', 'about.html'), 'utf8')).toBe('about v1\n')
    expect(readFileSync(lossyPath(home('everything', 'docs'))).equals(LOSSY_BYTES)).toBe(true)
    expect(staging()).toEqual([])
    rmSync(home('everything'), { recursive: true, force: true })
  })

  it('panel restore <tenant> latest restores the newest complete policy snapshot, not a newer other one', async () => {
    const newest = await backup()
    write(home('notes.txt'), 'notes v3\n')
    // Made with restic by hand (no policy tag): newer, but not what `latest` means.
    const other = await withRepository(deps, t.tenant, await dest(), async (repo) => {
      let id = ''
      await runRestic(
        ['backup', '--json', '--host', t.tenant.name, '--tag', 'by-hand', '--', t.home],
        repo.env,
        {
          onJson: (m) => void (m.message_type === 'summary' && (id = m.snapshot_id)),
        },
      )
      return id
    })
    expect((await listSnapshots(deps, t.tenant, await dest()))[0]!.id.startsWith(other)).toBe(true)
    const cli: CliDeps = {
      db: deps.db,
      secretKey: deps.config.secretKey,
      drivers: deps.drivers as CliDeps['drivers'],
      baseUrl: 'http://localhost',
      config: deps.config,
    }
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    let jobId = 0
    try {
      await backupCommands.restore!.run(cli, ['rfiles', 'latest'], {
        path: ['notes.txt'],
        to: 'from-latest',
        json: true,
      })
      jobId = JSON.parse(String(log.mock.calls[0]![0])).jobId
    } finally {
      log.mockRestore()
    }
    expect(((await getJob(deps.db, t.tenant.id, jobId)).payload as RestorePayload).snapshot).toBe(
      newest,
    )
    runner.wake()
    const done = await waitJob(deps, t.tenant.id, jobId, 120_000)
    expect(done.status, done.lastError ?? '').toBe('done')
    expect(readFileSync(home('from-latest', 'notes.txt'), 'utf8')).toBe('notes v1\n')
  })
})
