import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { faultyKeyDrivers, keyFaults, requireBinaries, stockRestic } from '../support/rekey.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { requestRekey } from '../../src/domain/rekey.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { latestRunOfJob, runLogsOf, runStagesOf } from '../../src/db/runs.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { findRepository, repositoryPassword } from '../../src/db/repositories.ts'
import { listAudit } from '../../src/db/audit-log.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { changeRepositoryPassword, OLD_KEY_KEPT } from '../../src/engine/jobs/rekey.ts'

/**
 * Changing a repository password with real restic: the old password stops opening the
 * repository, the new one (and only it) is stored and shown, backups go on, snapshots stay; a
 * failure before the new password is stored changes nothing, and a failed removal of the old
 * key is said plainly and mended by changing the password again.
 */
describe.runIf(rootAvailable() && requireBinaries(['restic'], 'apt-get install restic'))(
  'repository password change (real restic)',
  () => {
    const deps = freshDeps({ drivers: faultyKeyDrivers })
    let runner: Runner
    let t: Awaited<ReturnType<typeof realTenant>>
    let destId = 0
    let policyId = 0

    beforeAll(async () => {
      t = await realTenant(deps, 'rotor', { 'public_html/index.html': '<h1>hi</h1>\n' })
      destId = (await localDestination(deps, t.tenant.id)).id
      // Keep every snapshot: retention must not hide whether a change lost one.
      policyId = await policy(deps, t.tenant.id, [destId], { keepLast: '10' })
      runner = startRunner({ db: deps.db, handlers: jobHandlers(deps), pollMs: 100 })
    }, 60_000)
    afterAll(async () => {
      await runner?.stop()
      removeUsers()
    })

    const dest = () => getDestination(deps.db, t.tenant.id, destId)
    const stored = async () =>
      repositoryPassword(
        deps.config.secretKey,
        (await findRepository(deps.db, t.tenant.id, destId))!,
      )
    const where = async () => (await recoveryKit(deps, t.tenant, await dest())).repository
    const keys = async (password: string) =>
      JSON.parse(
        stockRestic(await where(), password, ['key', 'list', '--json']).stdout,
      ) as unknown[]
    const backup = async () => {
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      runner.wake()
      expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
    }
    const snapshotIds = async () =>
      (await listSnapshots(deps, t.tenant, await dest())).map((s) => s.id)

    it('the new password replaces the old one; snapshots stay and backups go on', async () => {
      await backup()
      const before = await snapshotIds()
      expect(before).toHaveLength(1)
      const old = await stored()
      expect(stockRestic(await where(), old, ['snapshots']).ok).toBe(true)

      const { job } = await requestRekey(deps.db, t.tenant.id, destId, 'manual')
      runner.wake()
      expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
      const run = (await latestRunOfJob(deps.db, t.tenant.id, job.id))!
      expect(run).toMatchObject({ kind: 'rekey', status: 'success', error: null })
      expect((await runStagesOf(deps.db, run.id)).map((s) => [s.name, s.status])).toEqual([
        ['add-key', 'success'],
        ['check-new-password', 'success'],
        ['store-password', 'success'],
        ['remove-old-key', 'success'],
      ])

      const fresh = await stored()
      expect(fresh).not.toBe(old)
      const refused = stockRestic(await where(), old, ['snapshots'])
      expect(refused.ok).toBe(false)
      expect(refused.stderr).toMatch(/wrong password|no key found/i)
      const opened = stockRestic(await where(), fresh, ['snapshots', '--json'])
      expect(opened.ok).toBe(true)
      expect(JSON.parse(opened.stdout).map((s: { id: string }) => s.id)).toEqual(before)
      expect(await keys(fresh)).toHaveLength(1)

      // Never a password in the run's log or stages, nor in the audit log.
      const said = JSON.stringify([
        await runLogsOf(deps.db, run.id),
        await runStagesOf(deps.db, run.id),
      ])
      const audited = JSON.stringify((await listAudit(deps.db, 'all', {})).rows)
      for (const secret of [old, fresh]) {
        expect(said).not.toContain(secret)
        expect(audited).not.toContain(secret)
      }
      expect(audited).toContain('repository.rekey')

      // The kit shows the new password, and backups carry on with it.
      const page = new Client(deps)
      await page.login('rotor')
      const kit = await page.post('/backups/recovery', {
        destination: String(destId),
        password: 'correct horse battery',
      })
      expect(kit.body).toContain(fresh)
      expect(kit.body).not.toContain(old)
      await backup()
      const after = await snapshotIds()
      expect(after).toHaveLength(2)
      expect(after).toEqual(expect.arrayContaining(before))
    }, 120_000)

    it('a failure before the new password is stored leaves the old one stored and working', async () => {
      const old = await stored()
      keyFaults.put = true
      try {
        const res = await changeRepositoryPassword(deps, t.tenant, await dest(), { trigger: 'cli' })
        expect(res.status).toBe('failed')
        expect(res.error).toMatch(
          /^The password was not changed: .*The old password still works\.$/,
        )
        expect(res.error).toContain('Injected fault')
      } finally {
        keyFaults.put = false
      }
      expect(await stored()).toBe(old)
      expect(stockRestic(await where(), old, ['snapshots']).ok).toBe(true)
      expect(await keys(old)).toHaveLength(1)
      await backup()
    }, 60_000)

    it('a failed removal of the old key is said plainly; changing again removes it', async () => {
      const first = await stored()
      keyFaults.remove = true
      let res
      try {
        res = await changeRepositoryPassword(deps, t.tenant, await dest(), { trigger: 'cli' })
      } finally {
        keyFaults.remove = false
      }
      expect(res).toMatchObject({ status: 'partial', error: OLD_KEY_KEPT })
      const second = await stored()
      expect(second).not.toBe(first)
      // Both open it for now: the new password is stored, the old key is still there.
      expect(stockRestic(await where(), first, ['snapshots']).ok).toBe(true)
      expect(stockRestic(await where(), second, ['snapshots']).ok).toBe(true)

      const again = await changeRepositoryPassword(deps, t.tenant, await dest(), { trigger: 'cli' })
      expect(again.status).toBe('success')
      const third = await stored()
      expect(stockRestic(await where(), first, ['snapshots']).ok).toBe(false)
      expect(stockRestic(await where(), second, ['snapshots']).ok).toBe(false)
      expect(stockRestic(await where(), third, ['snapshots']).ok).toBe(true)
      expect(await keys(third)).toHaveLength(1)
      expect(await snapshotIds()).toHaveLength(3)
    }, 120_000)
  },
)
