import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { requireBinaries, stockRestic } from '../support/rekey.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { requestRekey } from '../../src/domain/rekey.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { latestRunOfJob, listRuns, runLogsOf, runStagesOf } from '../../src/db/runs.ts'
import { getPolicy } from '../../src/db/policies.ts'
import { catalogOf } from '../../src/db/snapshots.ts'
import { withRepository } from '../../src/engine/restic/snapshots.ts'
import { retention } from '../../src/engine/jobs/retention.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { QUICK_KDF } from '../../src/engine/restic/key-file.ts'

/**
 * What a backup costs around the snapshot itself. Repositories the panel made get a key file
 * with a cheap scrypt cost (their password is a random secret), and stock restic still opens
 * them with nothing but the recovery kit; a password change (restic's `key add`, restic's own
 * cost) is made cheap again at the next job. A no-change backup starts restic once.
 */
describe.runIf(rootAvailable() && requireBinaries(['restic'], 'apt-get install restic'))(
  'per-backup overhead (real restic)',
  () => {
    const deps = freshDeps()
    let runner: Runner
    let t: Awaited<ReturnType<typeof realTenant>>
    let destId = 0
    let policyId = 0

    beforeAll(async () => {
      t = await realTenant(deps, 'quickkey', { 'public_html/index.html': '<h1>hi</h1>\n' })
      destId = (await localDestination(deps, t.tenant.id)).id
      policyId = await policy(deps, t.tenant.id, [destId], { keepLast: '10' })
      runner = startRunner({ db: deps.db, handlers: jobHandlers(deps), pollMs: 100 })
    }, 60_000)
    afterAll(async () => {
      await runner?.stop()
      removeUsers()
    })

    const kit = async () =>
      recoveryKit(deps, t.tenant, await getDestination(deps.db, t.tenant.id, destId))
    const keyFiles = async () => {
      const dir = join((await kit()).repository, 'keys')
      return readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
    }
    const run = async (job: { id: number }) => {
      runner.wake()
      expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
    }
    const backup = async () =>
      run((await requestBackup(deps.db, t.tenant.id, policyId, 'manual')).job)

    it('the first backup leaves one key, with the cheap cost, that stock restic opens', async () => {
      await backup()
      const keys = await keyFiles()
      expect(keys).toHaveLength(1)
      expect(keys[0]).toMatchObject({ kdf: 'scrypt', ...QUICK_KDF })
      const listed = stockRestic((await kit()).repository, (await kit()).password, [
        'snapshots',
        '--json',
      ])
      expect(listed.ok).toBe(true)
      expect(JSON.parse(listed.stdout)).toHaveLength(1)
      const wrong = stockRestic((await kit()).repository, (await kit()).password + 'x', [
        'snapshots',
      ])
      expect(wrong.ok).toBe(false)
      expect(wrong.stderr).toMatch(/wrong password/)
    })

    it('a no-change backup runs restic once and stores no file data', async () => {
      await backup()
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      await run(job)
      const runId = (await latestRunOfJob(deps.db, t.tenant.id, job.id))!.id
      const said = (await runLogsOf(deps.db, runId)).map((l) => l.message)
      expect(said).toContainEqual(expect.stringMatching(/^Local: restic ran 1 time \(backup /))
      // Only the folders above the work dir change (their times): a few KiB of trees, no files.
      const stage = (await runStagesOf(deps.db, runId)).find((s) => s.name === 'snapshot')!
      expect(stage.bytes).toBeLessThan(16 * 1024)
    })

    it('keeps backups of today until the day is over, then forgets them', async () => {
      const daily = await policy(deps, t.tenant.id, [destId], { name: 'Daily' })
      const mine = async () =>
        (await catalogOf(deps.db, t.tenant.id, destId)).filter((r) => r.policyId === daily)
      for (let i = 0; i < 2; i++)
        await run((await requestBackup(deps.db, t.tenant.id, daily, 'manual')).job)
      expect(await mine()).toHaveLength(2)
      const runId = (await listRuns(deps.db, t.tenant.id))[0]!.id
      const said = (await runStagesOf(deps.db, runId)).find((s) => s.name === 'retention')!.message
      expect(said).toBe(
        'Nothing to remove. 1 earlier backup(s) from today stay until the day is over (your policy keeps one a day).',
      )
      // The next day's run forgets this morning's backup (and prunes, the day's first time).
      const dest = await getDestination(deps.db, t.tenant.id, destId)
      const scope = {
        policy: await getPolicy(deps.db, t.tenant.id, daily),
        dest,
        runId,
        signal: new AbortController().signal,
      }
      await withRepository(deps, t.tenant, dest, (repo) =>
        retention(deps, scope, repo, { now: Date.now() + 86_400_000 }),
      )
      expect(await mine()).toHaveLength(1)
      const listed = stockRestic((await kit()).repository, (await kit()).password, [
        'snapshots',
        '--json',
      ])
      const ids = JSON.parse(listed.stdout).map((s: { id: string }) => s.id)
      expect(ids).toContain((await mine())[0]!.snapshotId)
      expect(ids).toHaveLength((await catalogOf(deps.db, t.tenant.id, destId)).length)
    })

    it('after a password change the next backup makes the new key cheap again', async () => {
      const before = (await kit()).password
      await run((await requestRekey(deps.db, t.tenant.id, destId, 'manual')).job)
      expect((await kit()).password).not.toBe(before)
      expect((await keyFiles())[0].N).toBeGreaterThan(QUICK_KDF.N)
      await backup()
      const keys = await keyFiles()
      expect(keys).toHaveLength(1)
      expect(keys[0]).toMatchObject(QUICK_KDF)
      expect(stockRestic((await kit()).repository, (await kit()).password, ['snapshots']).ok).toBe(
        true,
      )
      expect(stockRestic((await kit()).repository, before, ['snapshots']).ok).toBe(false)
    })
  },
)
