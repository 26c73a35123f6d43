import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PASSWORD, freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { createApp } from '../../src/web/app.tsx'
import { createApiKey } from '../../src/domain/api-keys.ts'
import { issueBackupToken } from '../../src/domain/backup-token.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { tenantUser } from '../../src/db/tenants.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'

describe.runIf(rootAvailable())(
  'API `latest`: the newest complete policy snapshot, from the catalog',
  () => {
    const deps = freshDeps()
    const app = createApp(deps)
    let t: Awaited<ReturnType<typeof realTenant>>
    let headers: Record<string, string> = {}
    const ids = { policy: 0, other: 0, complete: '', safety: '', incomplete: '' }

    beforeAll(async () => {
      t = await realTenant(deps, 'lena', { 'site/index.html': 'v1 complete\n' })
      const dest = await localDestination(deps, t.tenant.id)
      ids.policy = await policy(deps, t.tenant.id, [dest.id])
      ids.other = await policy(deps, t.tenant.id, [dest.id], { name: 'Never run' })
      const runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
      try {
        const { job } = await requestBackup(deps.db, t.tenant.id, ids.policy, 'manual')
        runner.wake()
        expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
      } finally {
        await runner.stop()
      }
      ids.complete = (await listSnapshots(deps, t.tenant, dest))[0]!.id
      // Newer snapshots tagged the way the panel tags them: a safety snapshot taken before a
      // restore in place, and a policy snapshot whose dump failed. Neither may be `latest`.
      const kit = await recoveryKit(deps, t.tenant, dest)
      const env = {
        PATH: process.env.PATH!,
        RESTIC_REPOSITORY: kit.repository,
        RESTIC_PASSWORD: kit.password,
      }
      const snapshot = (content: string, tags: string[]) => {
        writeFileSync(join(t.home, 'site/index.html'), content)
        const args = [
          'backup',
          '--no-cache',
          '--json',
          '--host',
          'lena',
          ...tags.flatMap((x) => ['--tag', x]),
          t.home,
        ]
        const res = spawnSync('restic', args, { env, encoding: 'utf8' })
        expect(res.status, res.stderr).toBe(0)
        return JSON.parse(res.stdout.trim().split('\n').at(-1)!).snapshot_id as string
      }
      ids.safety = snapshot('v2 safety\n', ['safety', 'run:99'])
      ids.incomplete = snapshot('v3 incomplete\n', [
        `policy:${ids.policy}`,
        'run:100',
        'incomplete',
      ])
      // The catalog learns them as a page would; restic 0.14 printed only their short ids.
      const synced = await listSnapshots(deps, t.tenant, dest)
      const full = (short: string) => synced.find((s) => s.id.startsWith(short))!.id
      ids.safety = full(ids.safety)
      ids.incomplete = full(ids.incomplete)
      const { key } = await createApiKey(deps.db, t.tenant.id, 'nas', { actor: 'lena' })
      const user = (await tenantUser(deps.db, t.tenant.id))!
      const { token } = await issueBackupToken(
        deps,
        t.tenant,
        user,
        { confirm: 'create', password: PASSWORD },
        { actor: 'lena' },
      )
      headers = { authorization: `Bearer ${key}`, 'x-backup-token': token }
    }, 120_000)

    afterAll(() => removeUsers())

    it('lists each snapshot with its kind and whether it is complete', async () => {
      const res = await app.request('/api/v1/snapshots', { headers })
      expect(res.status).toBe(200)
      const [dest] = (await res.json()).destinations
      const facts = dest.snapshots.map((s: any) => [s.id, s.kind, s.complete, s.policyId])
      expect(facts).toEqual([
        [ids.incomplete, 'policy', false, ids.policy],
        [ids.safety, 'safety', false, null],
        [ids.complete, 'policy', true, ids.policy],
      ])
    })

    it('downloads the complete policy snapshot, never the newer safety or incomplete one', async () => {
      for (const query of ['', `&policy=${ids.policy}`]) {
        const res = await app.request(
          `/api/v1/snapshots/latest/download?path=site/index.html${query}`,
          { headers },
        )
        expect(res.status).toBe(200)
        expect(res.headers.get('x-snapshot-id')).toBe(ids.complete)
        expect(await res.text()).toBe('v1 complete\n')
      }
      const none = await app.request(`/api/v1/snapshots/latest/download?policy=${ids.other}`, {
        headers,
      })
      expect(none.status).toBe(404)
      expect((await none.json()).error.code).toBe('not_found')
    })

    it('still downloads a snapshot named by its id, safety ones included', async () => {
      const res = await app.request(
        `/api/v1/snapshots/${ids.safety.slice(0, 8)}/download?path=site/index.html`,
        { headers },
      )
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('v2 safety\n')
    })
  },
)
