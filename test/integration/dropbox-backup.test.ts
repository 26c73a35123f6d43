import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { dropbox } from '../../src/drivers/dropbox/index.ts'
import type { Driver } from '../../src/drivers/types.ts'
import type { DropboxFake } from '../services/dropbox-fake.ts'
import { dropboxDrivers, startFake } from '../support/dropbox.ts'
import { freshDeps } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { getJob } from '../../src/db/jobs.ts'
import { runLogs, runStages, runs as runsTable } from '../../src/db/schema.ts'
import { withRepository } from '../../src/engine/restic/snapshots.ts'
import { runRestic } from '../../src/engine/restic/restic.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'
import { restoreAndCompare } from '../support/restore.ts'

let fake: DropboxFake
const { visible, closeAll } = dropboxDrivers(() => fake)
beforeAll(async () => {
  fake = await startFake()
})
afterAll(closeAll)

/** Everything restic processes show in /proc (argv and environment), sampled every 50 ms. */
function watchRestic() {
  const seen = new Map<number, string>()
  const timer = setInterval(() => {
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'restic') continue
        // Only our own children: other test files may run restic at the same time.
        const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
        if (ppid !== process.pid) continue
        const text =
          readFileSync(`/proc/${pid}/cmdline`, 'utf8') +
          '\n' +
          readFileSync(`/proc/${pid}/environ`, 'utf8')
        seen.set(Number(pid), text)
      } catch {
        // exited meanwhile
      }
    }
  }, 50)
  return { stop: () => clearInterval(timer), seen }
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe.runIf(rootAvailable())('backups to Dropbox through the runner', () => {
  // The registry's entry, with every StorageError the driver rejects with noted down.
  const driverErrors: string[] = []
  const noted = <T>(p: Promise<T>) =>
    p.catch((err: Error) => {
      driverErrors.push(err.message)
      throw err
    })
  const spied = {
    ...dropbox,
    open(...args: Parameters<typeof dropbox.open>): Driver {
      const d = dropbox.open(...args)
      return {
        capabilities: d.capabilities,
        put: (key, source, opts) => noted(d.put(key, source, opts)),
        get: (key, opts) => noted(d.get(key, opts)),
        stat: (key, opts) => noted(d.stat(key, opts)),
        remove: (key, opts) => noted(d.remove(key, opts)),
        list: (prefix, opts) => d.list(prefix, opts),
        close: () => d.close!(),
      }
    },
  }
  const deps = freshDeps({ drivers: { ...drivers, dropbox: spied } })
  let runner: Runner
  let alice: Awaited<ReturnType<typeof realTenant>>
  const files: Record<string, Buffer> = {
    'public_html/index.html': Buffer.from('<h1>alice on dropbox</h1>\n'),
    'data/random.bin': randomBytes(24 << 20),
    'data/small.txt': Buffer.from('small\n'),
  }
  const start = () =>
    (runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    }))
  const destination = (name: string, remotePath: string) =>
    saveDestination(
      { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
      alice.tenant.id,
      'dropbox',
      null,
      {
        name,
        settings: {
          appKey: fake.appKey,
          appSecret: fake.appSecret,
          refreshToken: fake.refreshToken,
          remotePath,
        },
      },
    )

  beforeAll(async () => {
    process.env.PANEL_OUTBOUND_ALLOW = '127.0.0.1,localhost,::1'
    alice = await realTenant(deps, 'alice', files)
    start()
  })
  afterAll(async () => {
    await runner?.stop()
    removeUsers()
  })

  it('backs up while access tokens die every 2 s, restores byte for byte, and leaks no secret', async () => {
    const dest = await destination('Dropbox', '/panel-backups')
    const pid = await policy(deps, alice.tenant.id, [dest.id])
    fake.options.tokenTtl = 2
    fake.options.advertisedTtl = 14_400 // tokens die long before the driver expects: 401s mid-backup
    const { expired, refreshes } = fake.stats
    const spy = watchRestic()
    try {
      const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
      runner.wake()
      const done = await waitJob(deps, alice.tenant.id, job.id, 120_000)
      expect(done.status, done.lastError ?? '').toBe('done')
    } finally {
      spy.stop()
      fake.options.tokenTtl = 14_400
      fake.options.advertisedTtl = undefined
    }
    expect(fake.stats.expired).toBeGreaterThan(expired)
    expect(fake.stats.refreshes).toBeGreaterThan(refreshes + 1)
    expect(fake.stats.requests['files/upload_session/finish']).toBeGreaterThan(0) // packs over 8 MiB
    expect(visible('/panel-backups/alice/config')).toHaveLength(1)

    await restoreAndCompare(deps, runner, alice.tenant, dest, files)
    expect((await recoveryKit(deps, alice.tenant, dest)).repository).toBe(
      'rclone:dropbox:panel-backups/alice',
    )

    // Secrets: the app secret, the refresh token and every access token the fake issued.
    const secrets = [fake.appSecret, ...fake.issued]
    expect(spy.seen.size).toBeGreaterThan(0)
    for (const text of spy.seen.values()) {
      expect(text).toMatch(/RESTIC_REPOSITORY=rest:http:\/\/[^@]+@127\.0\.0\.1:\d+\//)
      for (const secret of secrets) expect(text).not.toContain(secret)
    }
    const stored = [deps.config.dbPath, `${deps.config.dbPath}-wal`]
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('')
    const records = JSON.stringify([
      await deps.db.select().from(runLogs),
      await deps.db.select().from(runStages),
      await deps.db.select().from(runsTable),
      await deps.db.query.jobs.findMany(),
    ])
    for (const secret of secrets) {
      expect(stored).not.toContain(secret)
      expect(records).not.toContain(secret)
    }
  }, 240_000)

  it('Dropbox going away mid-upload: the driver says why, the job is retried, nothing partial, check passes', async () => {
    mkdirSync(join(alice.home, 'more'), { recursive: true })
    writeFileSync(join(alice.home, 'more/blob.bin'), randomBytes(40 << 20))
    chownSync(join(alice.home, 'more'), alice.uid, alice.gid)
    chownSync(join(alice.home, 'more/blob.bin'), alice.uid, alice.gid)
    const dest = await destination('Killed', '/killed')
    const pid = await policy(deps, alice.tenant.id, [dest.id], { name: 'Killed' })
    const uploads = () =>
      (fake.stats.requests['files/upload_session/append_v2'] ?? 0) +
      (fake.stats.requests['files/upload_session/finish'] ?? 0)
    const before = uploads()
    const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
    runner.wake()
    await until(() => uploads() > before + 2, 120_000, 'uploads to start')
    await fake.stop()
    const t0 = Date.now()
    let current = await getJob(deps.db, alice.tenant.id, job.id)
    try {
      await until(
        async () => {
          current = await getJob(deps.db, alice.tenant.id, job.id)
          return Boolean(current.lastError) || current.status === 'failed'
        },
        300_000,
        'the backup to fail',
      )
      // The engine stops an attempt once the destination has failed every request for a minute.
      const seen = `backup failed ${Math.round((Date.now() - t0) / 1000)} s after Dropbox went away: ${current.lastError}`
      expect(current.status, seen).toBe('queued') // transient: the job will be retried
      expect(current.lastError, seen).toMatch(/^Killed: .*still failing after 60 s/)
      expect(driverErrors).toContain(`connection to Dropbox refused by 127.0.0.1:${fake.port}`)
      await runner.stop()
    } finally {
      await fake.start()
    }
    // No partial object: every file restic stored (but config) is named by its content's SHA-256.
    const stored = [...fake.files.values()].filter(
      (f) => f.path.startsWith('/killed/alice/') && !f.path.endsWith('/config'),
    )
    expect(stored.length).toBeGreaterThan(0)
    for (const f of stored)
      expect(createHash('sha256').update(f.data).digest('hex'), f.path).toBe(
        f.path.split('/').at(-1),
      )
    // The failed run could not remove its lock while Dropbox was away; restic 0.14's check will
    // not ignore a stale lock, so remove stale locks first as an admin would.
    await withRepository(deps, alice.tenant, dest, (repo) => runRestic(['unlock'], repo.env))
    const { results } = await runVerify(deps, alice.tenant, {
      destinationId: dest.id,
      subset: '100%',
    })
    expect(results).toEqual([expect.objectContaining({ ok: true })])
    // The queued retry completes once Dropbox is back.
    start()
    runner.wake()
    expect((await waitJob(deps, alice.tenant.id, job.id, 180_000)).status).toBe('done')
  }, 600_000)
})
