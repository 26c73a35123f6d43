import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { chownSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { webdav } from '../../src/drivers/webdav/index.ts'
import { settingsOf } from '../../src/drivers/spec.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import { readAll } from '../drivers/suite.ts'
import { requireApacheDav, startApacheDav, type ApacheDav } from '../services/apache-dav.ts'
import { freshDeps, storedBytes } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import { filesUnder } from '../support/storage.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listRuns } from '../../src/db/runs.ts'
import { runLogs, runStages, runs as runsTable } from '../../src/db/schema.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'
import { restoreAndCompare } from '../support/restore.ts'

const LOOPBACK: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }

/** Pids of every process below `root` (children, grandchildren…). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = []
  const queue = [root]
  while (queue.length) {
    const pid = queue.shift()!
    for (const [child, ppid] of parent) if (ppid === pid) (out.push(child), queue.push(child))
  }
  return out
}

/** Watches the argv and environment of every child process for `secret` while it runs. */
function spawnSpy(secret: string) {
  const seen = { restic: 0, processes: 0, leaks: [] as string[] }
  const look = () => {
    for (const pid of descendants(process.pid)) {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`)
        const environ = readFileSync(`/proc/${pid}/environ`)
        seen.processes++
        if (cmdline.toString().split('\0')[0]!.endsWith('restic')) seen.restic++
        if (cmdline.includes(secret) || environ.includes(secret))
          seen.leaks.push(cmdline.toString().replace(/\0/g, ' '))
      } catch {
        // exited meanwhile
      }
    }
  }
  const timer = setInterval(look, 25)
  return { seen, stop: () => clearInterval(timer) }
}

describe.runIf(requireApacheDav() && rootAvailable())(
  'backups to WebDAV through the runner',
  () => {
    const SECRET = `DAV-RUNNER-SECRET-${randomBytes(6).toString('hex')}`
    const deps = freshDeps({ drivers: { ...drivers, webdav } })
    const envBefore = process.env.PANEL_OUTBOUND_ALLOW
    const spies: ReturnType<typeof spawnSpy>[] = []
    let dav: ApacheDav
    let runner: Runner
    let alice: Awaited<ReturnType<typeof realTenant>>
    let dest: Awaited<ReturnType<typeof saveDestination>>
    const repoDir = () => join(dav.root, 'panel/backups/alice')
    const files = {
      'public_html/index.html': '<h1>alice on webdav</h1>\n',
      'public_html/img/photo.bin': randomBytes(3_000_000),
      'notes/ünïcode name.txt': 'π ≈ 3.14159\n',
    }

    beforeAll(async () => {
      process.env.PANEL_OUTBOUND_ALLOW = '127.0.0.1,localhost,::1'
      dav = await startApacheDav({ password: SECRET })
      alice = await realTenant(deps, 'alice', files)
      dest = await saveDestination(
        { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
        alice.tenant.id,
        'webdav',
        null,
        {
          name: 'Nextcloud',
          settings: {
            url: dav.url,
            path: 'panel/backups',
            username: dav.username,
            password: SECRET,
          },
        },
      )
      runner = startRunner({
        db: deps.db,
        handlers: jobHandlers(deps),
        pollMs: 100,
        onError: () => {},
      })
    }, 60_000)
    afterAll(async () => {
      for (const spy of spies) spy.stop()
      await runner?.stop()
      removeUsers()
      await dav?.destroy()
      if (envBefore === undefined) delete process.env.PANEL_OUTBOUND_ALLOW
      else process.env.PANEL_OUTBOUND_ALLOW = envBefore
    })

    it('backs up to the WebDAV folder and restores byte for byte through the panel', async () => {
      const spy = spawnSpy(SECRET)
      spies.push(spy)
      const pid = await policy(deps, alice.tenant.id, [dest.id], { name: 'Nightly' })
      const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
      runner.wake()
      const done = await waitJob(deps, alice.tenant.id, job.id, 120_000)
      spy.stop()
      expect(done.status, done.lastError ?? '').toBe('done')
      expect((await listRuns(deps.db, alice.tenant.id))[0]!.status).toBe('success')
      // restic's own layout, in <URL>/<path>/<tenant>.
      expect(existsSync(join(repoDir(), 'config'))).toBe(true)
      expect(readdirSync(join(repoDir(), 'snapshots'))).toHaveLength(1)
      expect(spy.seen.restic).toBeGreaterThan(0)
      expect(spy.seen.leaks).toEqual([])

      await restoreAndCompare(deps, runner, alice.tenant, dest, files)

      const kit = await recoveryKit(deps, alice.tenant, dest)
      expect(kit.repository).toBe('rclone:panelwebdav:panel/backups/alice')
      expect(kit.command).toContain(`RCLONE_CONFIG_PANELWEBDAV_URL='${dav.url}'`)
      expect(kit.command).not.toContain(SECRET)
    }, 240_000)

    it('a server killed mid-backup fails or retries plainly; restic check passes; no partial object', async () => {
      writeFileSync(join(alice.home, 'big.bin'), randomBytes(30 << 20))
      chownSync(join(alice.home, 'big.bin'), alice.uid, alice.gid)
      const spy = spawnSpy(SECRET)
      spies.push(spy)
      const before = new Set(filesUnder(join(repoDir(), 'data')))
      const pid = await policy(deps, alice.tenant.id, [dest.id], { name: 'Big' })
      const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
      runner.wake()
      const until = async (what: string, cond: () => boolean, ms: number) => {
        const end = Date.now() + ms
        while (!cond()) {
          if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
          await sleep(20)
        }
      }
      // The first new file in data/ (a pack or its temporary name): the upload is under way.
      await until(
        'an upload',
        () => filesUnder(join(repoDir(), 'data')).some((f) => !before.has(f)),
        120_000,
      )
      await dav.stop()
      try {
        // Down for a while: restic retries its uploads (and may give up; the job then retries).
        await sleep(8_000)
      } finally {
        await dav.start()
      }
      const finished = await waitJob(deps, alice.tenant.id, job.id, 400_000)
      spy.stop()
      // A failed attempt (if restic gave up before the server came back) says why, plainly.
      for (const run of (await listRuns(deps.db, alice.tenant.id)).filter(
        (r) => r.jobId === job.id && r.status === 'failed',
      )) {
        expect(run.error).toMatch(/^Nextcloud: /)
        expect(run.error).not.toContain(SECRET)
      }
      expect(spy.seen.leaks).toEqual([])
      expect(finished.status, finished.lastError ?? '').toBe('done')

      const { results } = await runVerify(deps, alice.tenant, {
        destinationId: dest.id,
        subset: '100%',
      })
      expect(results, JSON.stringify(results)).toEqual([
        { destination: 'Nextcloud', ok: true, message: expect.stringMatching(/healthy/) },
      ])
      // Every object restic can see is whole: restic names files by the SHA-256 of their bytes.
      const d = webdav.open(
        settingsOf(webdav.settings, dest.settings),
        { password: SECRET },
        { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK },
      )
      let checked = 0
      for await (const { key, size } of d.list('')) {
        if (key === 'config') continue
        const bytes = await readAll(await d.get(key))
        expect(bytes.length, key).toBe(size)
        expect(createHash('sha256').update(bytes).digest('hex'), key).toBe(key.split('/').at(-1))
        checked++
      }
      await d.close?.()
      expect(checked).toBeGreaterThan(4)
    }, 600_000)

    it('never stores or logs the WebDAV password in clear', async () => {
      const db = await storedBytes(deps)
      const wal = Buffer.alloc(0) // storedBytes holds the WAL too
      expect(db.includes(SECRET)).toBe(false)
      expect(wal.includes(SECRET)).toBe(false)
      const text = JSON.stringify([
        await deps.db.select().from(runLogs),
        await deps.db.select().from(runStages),
        await deps.db.select().from(runsTable),
        await deps.db.query.jobs.findMany(),
        await deps.db.query.destinations.findMany(),
      ])
      expect(text).not.toContain(SECRET)
      expect(JSON.stringify(process.env)).not.toContain(SECRET)
    })
  },
)
