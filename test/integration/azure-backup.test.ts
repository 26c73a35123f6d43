import { afterAll, beforeAll, expect, it, describe } from 'vitest'
import { spawnSync } from 'node:child_process'
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createHash, randomBytes } from 'node:crypto'
import { azure } from '../../src/drivers/azure/index.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { getJob } from '../../src/db/jobs.ts'
import { listRuns } from '../../src/db/runs.ts'
import { runLogs, runStages, runs as runsTable } from '../../src/db/schema.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { freshDeps } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import {
  DEV_ACCOUNT,
  DEV_KEY,
  requireAzurite,
  startAzurite,
  type AzuriteServer,
} from '../services/azurite.ts'
import { CONTAINER, accountSas } from '../support/azure.ts'
import { restoreAndCompare } from '../support/restore.ts'

/** Every blob under `prefix`, downloaded into `dir` with the prefix cut off: stock restic's local layout. */
async function copyRepository(az: AzuriteServer, prefix: string, dir: string): Promise<number> {
  const container = az.service.getContainerClient(CONTAINER)
  let count = 0
  for await (const blob of container.listBlobsFlat({ prefix })) {
    const file = join(dir, blob.name.slice(prefix.length))
    mkdirSync(dirname(file), { recursive: true })
    await container.getBlobClient(blob.name).downloadToFile(file)
    count++
  }
  return count
}

/** restic processes started by this test process, with their argv and environment. */
function resticChildren(): { pid: string; cmdline: string; environ: string }[] {
  const out = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      if (!/^Name:\s+restic$/m.test(status) || !status.includes(`\nPPid:\t${process.pid}\n`))
        continue
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').replace(/\0/g, '\n')
      out.push({ pid, cmdline, environ })
    } catch {
      // exited meanwhile
    }
  }
  return out
}

describe.runIf(requireAzurite() && rootAvailable())(
  'backups to Azure Blob through the runner',
  () => {
    process.env.PANEL_OUTBOUND_ALLOW = '127.0.0.1,localhost,::1'
    const deps = freshDeps({ drivers: { ...drivers, azure } })
    let scratch = ''
    let az: AzuriteServer
    let runner: Runner
    let alice: Awaited<ReturnType<typeof realTenant>>
    const homes: string[] = []
    const sas = accountSas()
    const files = {
      'public_html/index.html': '<h1>alice on azure</h1>\n',
      'public_html/blob.bin': randomBytes(3 << 20),
    }

    const destination = (
      tenantId: number,
      name: string,
      path: string,
      secret: Record<string, string>,
      endpoint = az.endpoint,
    ) =>
      saveDestination(
        { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
        tenantId,
        'azure',
        null,
        {
          name,
          settings: {
            accountName: DEV_ACCOUNT,
            container: CONTAINER,
            path,
            endpoint,
            accountKey: '',
            sasToken: '',
            ...secret,
          },
        },
      )
    const startJobs = () =>
      startRunner({ db: deps.db, handlers: jobHandlers(deps), pollMs: 100, onError: () => {} })

    beforeAll(async () => {
      scratch = mkdtempSync(join(tmpdir(), 'azure-runner-'))
      az = await startAzurite()
      await az.createContainer(CONTAINER)
      alice = await realTenant(deps, 'alice', files)
      homes.push(alice.home)
      runner = startJobs()
    }, 60_000)
    afterAll(async () => {
      await runner?.stop()
      await az?.stop()
      removeUsers()
      if (scratch) rmSync(scratch, { recursive: true, force: true })
      for (const home of homes) rmSync(home, { recursive: true, force: true })
    })

    it('backs up with the account key, restores through the panel, and stock restic reads a copy', async () => {
      const dest = await destination(alice.tenant.id, 'Azure', 'backups/panel', {
        accountKey: DEV_KEY,
      })
      const policyId = await policy(deps, alice.tenant.id, [dest.id])
      const { job } = await requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
      runner.wake()
      expect((await waitJob(deps, alice.tenant.id, job.id, 120_000)).status).toBe('done')
      expect((await listRuns(deps.db, alice.tenant.id))[0]!.status).toBe('success')

      await restoreAndCompare(deps, runner, alice.tenant, dest, files)

      // restic 0.14 only reaches https://<account>.blob.core.windows.net, so it cannot open the
      // repository on Azurite directly: the kit says so, and stock restic opens a plain copy.
      const kit = await recoveryKit(deps, alice.tenant, dest)
      expect(kit.repository).toBe('azure:panel:/backups/panel/alice')
      expect(kit.command).toContain(`AZURE_ACCOUNT_NAME='${DEV_ACCOUNT}'`)
      expect(kit.command).toContain(`AZURE_ACCOUNT_KEY='${DEV_KEY}'`)
      expect(kit.note).toMatch(/Stock restic cannot reach the custom endpoint/)
      const copy = join(scratch, 'copy')
      expect(await copyRepository(az, 'backups/panel/alice/', copy)).toBeGreaterThan(3)
      const target = join(scratch, 'stock-restore')
      const env = {
        PATH: process.env.PATH,
        RESTIC_REPOSITORY: copy,
        RESTIC_PASSWORD: kit.password,
        RESTIC_CACHE_DIR: join(scratch, 'cache'),
      }
      const res = spawnSync('restic', ['restore', 'latest', '--target', target], {
        env,
        encoding: 'utf8',
      })
      expect(res.status, res.stderr).toBe(0)
      for (const rel of Object.keys(files)) {
        expect(
          readFileSync(join(target, alice.home, rel)).equals(readFileSync(join(alice.home, rel))),
          rel,
        ).toBe(true)
      }
    }, 240_000)

    it('backs up with a SAS token, and no secret reaches restic, the database or the logs', async () => {
      writeFileSync(join(alice.home, 'big.bin'), randomBytes(24 << 20))
      chownSync(join(alice.home, 'big.bin'), alice.uid, alice.gid)
      const dest = await destination(alice.tenant.id, 'Azure SAS', 'sas', { sasToken: sas })
      const policyId = await policy(deps, alice.tenant.id, [dest.id], { name: 'With SAS' })
      const { job } = await requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
      runner.wake()
      const seen: ReturnType<typeof resticChildren> = []
      for (
        let job_ = job;
        job_.status !== 'done' && job_.status !== 'failed';
        job_ = await getJob(deps.db, alice.tenant.id, job.id)
      ) {
        seen.push(...resticChildren())
        await sleep(20)
      }
      expect((await getJob(deps.db, alice.tenant.id, job.id)).status).toBe('done')
      expect(seen.length).toBeGreaterThan(0)
      const sig = new URLSearchParams(sas).get('sig')!
      const secrets = [DEV_KEY, sas, sig, encodeURIComponent(sig)]
      for (const p of seen) {
        for (const secret of secrets) {
          expect(p.cmdline).not.toContain(secret)
          expect(p.environ).not.toContain(secret)
        }
        expect(p.environ).not.toMatch(new RegExp(`AZURE_|127\\.0\\.0\\.1:${az.port}`))
        expect(p.environ).toMatch(/^RESTIC_REPOSITORY=rest:http:\/\/[^@]+@127\.0\.0\.1:\d+\/$/m)
      }
      const names: string[] = []
      for await (const blob of az.service
        .getContainerClient(CONTAINER)
        .listBlobsFlat({ prefix: 'sas/alice/' }))
        names.push(blob.name)
      expect(names).toContain('sas/alice/config')

      const stored = [deps.config.dbPath, `${deps.config.dbPath}-wal`]
        .filter((f) => existsSync(f))
        .map((f) => readFileSync(f))
      const text = JSON.stringify([
        await deps.db.select().from(runLogs),
        await deps.db.select().from(runStages),
        await deps.db.select().from(runsTable),
        await deps.db.query.jobs.findMany(),
      ])
      for (const secret of secrets) {
        for (const bytes of stored) expect(bytes.includes(secret)).toBe(false)
        expect(text).not.toContain(secret)
      }
    }, 240_000)

    it('survives Azurite dying mid-upload: nothing partial is visible, the backup resumes, restic check passes', async () => {
      const other = await startAzurite()
      try {
        await other.createContainer(CONTAINER)
        const bob = await realTenant(deps, 'bob', {
          'data/a.bin': randomBytes(24 << 20),
          'data/b.bin': randomBytes(24 << 20),
          'data/c.bin': randomBytes(24 << 20),
        })
        homes.push(bob.home)
        const dest = await destination(
          bob.tenant.id,
          'Dies',
          'crash',
          { accountKey: DEV_KEY },
          other.endpoint,
        )
        const policyId = await policy(deps, bob.tenant.id, [dest.id], { name: 'Crash' })
        const { job } = await requestBackup(deps.db, bob.tenant.id, policyId, 'manual')
        runner.wake()
        const container = other.service.getContainerClient(CONTAINER)
        /** Every blob under crash/bob/ must hash to its name (restic names objects by SHA-256): none is partial. */
        const checkBlobs = async () => {
          let checked = 0
          for await (const b of container.listBlobsFlat({ prefix: 'crash/bob/' })) {
            if (b.name === 'crash/bob/config') continue
            const body = await container
              .getBlobClient(b.name)
              .downloadToBuffer()
              .catch((err) => {
                if (err?.statusCode === 404) return null // restic removed it meanwhile
                throw err
              })
            if (!body) continue
            expect(createHash('sha256').update(body).digest('hex'), b.name).toBe(
              b.name.split('/').at(-1),
            )
            checked++
          }
          return checked
        }
        // Kill it as soon as the first pack is being staged (its blocks show as an uncommitted
        // blob): about 70 MB are still to go, so the kill lands mid-upload.
        const deadline = Date.now() + 60_000
        for (;;) {
          const packs = []
          const listing = { prefix: 'crash/bob/data/', includeUncommitedBlobs: true }
          for await (const b of container.listBlobsFlat(listing)) packs.push(b)
          if (packs.length) break
          if (Date.now() > deadline) throw new Error('no pack was uploaded within 60 s')
          await sleep(25)
        }
        await other.kill()
        await sleep(10_000)
        const during = await getJob(deps.db, bob.tenant.id, job.id)
        expect(during.status, `the backup ended before the kill: ${during.lastError}`).toBe(
          'running',
        )

        await other.restart()
        expect(await checkBlobs()).toBeGreaterThan(0) // the key file at least
        // restic retries what failed (the bridge answered 500 while Azurite was down) and finishes.
        expect((await waitJob(deps, bob.tenant.id, job.id, 240_000)).status).toBe('done')
        expect(await checkBlobs()).toBeGreaterThan(3)
        const { results } = await runVerify(deps, bob.tenant, {
          destinationId: dest.id,
          subset: '100%',
        })
        expect(results).toEqual([
          { destination: 'Dies', ok: true, message: expect.stringMatching(/healthy/) },
        ])
        expect(await listSnapshots(deps, bob.tenant, dest)).toHaveLength(1)

        // With the server down for good, the next run fails with a plain reason and is retried later.
        await other.kill()
        const again = await requestBackup(deps.db, bob.tenant.id, policyId, 'manual')
        runner.wake()
        let current = await getJob(deps.db, bob.tenant.id, again.job.id)
        for (const end = Date.now() + 60_000; !current.lastError && Date.now() < end;) {
          await sleep(100)
          current = await getJob(deps.db, bob.tenant.id, again.job.id)
        }
        expect(current.status).toBe('queued')
        expect(current.lastError).toBe(`Dies: connection refused by 127.0.0.1:${other.port}`)
        const run = (await listRuns(deps.db, bob.tenant.id)).find((r) => r.jobId === again.job.id)!
        expect(run).toMatchObject({
          status: 'failed',
          error: `Dies: connection refused by 127.0.0.1:${other.port}`,
        })
        await runner.stop() // the last test: no more retries against a dead server
      } finally {
        await other.stop()
      }
    }, 420_000)
  },
)
