import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { freshDeps, storedBytes } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import {
  requireS3rver,
  startRecorder,
  startS3rver,
  type Recorder,
  type S3rverServer,
} from '../services/s3rver.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { s3 } from '../../src/drivers/s3/index.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { testConnection } from '../../src/domain/test-connection.ts'
import { getDestination, storedValues } from '../../src/db/destinations.ts'
import { listRuns } from '../../src/db/runs.ts'
import { runLogs, runStages, runs as runsTable } from '../../src/db/schema.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'
import { restoreAndCompare } from '../support/restore.ts'

const SECRET = `S3-SECRET-${randomBytes(8).toString('hex')}` // s3rver accepts any secret for its key id
const FILES: Record<string, string | Buffer> = {
  'public_html/index.html': '<h1>alice</h1>\n',
  'data/random.bin': randomBytes(3 << 20),
  'data/empty': '',
}

type Seen = { pid: number; cmdline: string; environ: string }

/** Records every restic process of user `uid` (argv and environment) until `stop`. */
function watchRestic(uid: number) {
  const seen = new Map<number, Seen>()
  const timer = setInterval(() => {
    for (const name of readdirSync('/proc')) {
      const pid = Number(name)
      if (!pid || seen.has(pid)) continue
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        if (!/^(\S*\/)?restic\0/.test(cmdline)) continue
        if (
          !new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(readFileSync(`/proc/${pid}/status`, 'utf8'))
        )
          continue
        seen.set(pid, { pid, cmdline, environ: readFileSync(`/proc/${pid}/environ`, 'utf8') })
      } catch {
        // gone meanwhile
      }
    }
  }, 25)
  return () => {
    clearInterval(timer)
    return [...seen.values()]
  }
}

async function until(cond: () => boolean, ms: number) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe.runIf(rootAvailable() && requireS3rver())(
  'backups through the runner to S3 (s3rver)',
  () => {
    const deps = freshDeps({ drivers: { ...drivers, s3 } })
    let server: S3rverServer
    let rec: Recorder
    let runner: Runner
    let alice: Awaited<ReturnType<typeof realTenant>>
    const ctx = () => ({
      tenantName: 'alice',
      localRoot: deps.config.localRoot,
      guard: { allow: ['127.0.0.1'] },
    })

    beforeAll(async () => {
      process.env.PANEL_OUTBOUND_ALLOW = '127.0.0.1,localhost,::1'
      server = await startS3rver({ buckets: ['backups'] })
      rec = await startRecorder(() => server.port)
      alice = await realTenant(deps, 'alice', FILES)
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
      await rec?.close()
      await server?.stop()
      delete process.env.PANEL_OUTBOUND_ALLOW
    })

    /** The destination form as a tenant fills it in (checkboxes as 'on'). */
    const formOf = (extra: Record<string, string> = {}): Record<string, string> => ({
      bucket: 'backups',
      path: 'panel/repos',
      accessKeyId: server.accessKeyId,
      secretAccessKey: SECRET,
      endpoint: server.endpoint,
      endpointProtocol: 'http',
      pathStyle: 'on',
      region: 'us-east-1',
      partLimit: '10000',
      storageClass: 'STANDARD',
      ...extra,
    })
    const destination = (name: string, extra: Record<string, string> = {}) =>
      saveDestination(
        { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
        alice.tenant.id,
        's3',
        null,
        {
          name,
          settings: formOf(extra),
        },
      )
    const destNamed = async (name: string) =>
      getDestination(
        deps.db,
        alice.tenant.id,
        (await deps.db.query.destinations.findFirst({ where: (d, { eq }) => eq(d.name, name) }))!
          .id,
      )

    it('backs up and restores byte for byte through the panel; restic sees only the bridge', async () => {
      const dest = await destination('S3')
      const pid = await policy(deps, alice.tenant.id, [dest.id])
      const stop = watchRestic(alice.uid)
      const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
      runner.wake()
      const done = await waitJob(deps, alice.tenant.id, job.id, 120_000)
      const procs = stop()
      expect(done.status, done.lastError ?? '').toBe('done')
      expect((await listRuns(deps.db, alice.tenant.id))[0]!.status).toBe('success')
      expect(procs.length).toBeGreaterThan(0)
      for (const p of procs) {
        expect(p.environ).toMatch(
          /(^|\0)RESTIC_REPOSITORY=rest:http:\/\/[^@\0]+@127\.0\.0\.1:\d+\/\0/,
        )
        expect(p.environ).not.toMatch(/AWS_|S3RVER/)
        for (const text of [p.environ, p.cmdline]) expect(text).not.toContain(SECRET)
        expect(p.cmdline).not.toContain(server.endpoint)
      }

      await restoreAndCompare(deps, runner, alice.tenant, dest, FILES)
    }, 240_000)

    it('stock restic opens that repository directly on s3rver with the recovery kit', async () => {
      const dest = await destNamed('S3')
      const kit = await recoveryKit(deps, alice.tenant, dest)
      const stored = storedValues(deps.config.secretKey, alice.tenant.id, dest, s3.settings)
      const location = s3.repository(stored.settings, stored.secrets, ctx())
      expect(kit.repository).toBe(`s3:http://${server.endpoint}/backups/panel/repos/alice`)
      expect(kit.command).toContain(`AWS_SECRET_ACCESS_KEY='${SECRET}'`)
      const target = mkdtempSync(join(tmpdir(), 's3-kit-restore-'))
      try {
        const env = {
          PATH: process.env.PATH,
          RESTIC_REPOSITORY: kit.repository,
          RESTIC_PASSWORD: kit.password,
          RESTIC_CACHE_DIR: join(target, '.cache'),
          ...location.env,
        }
        // --no-lock: over http restic's S3 client sends aws-chunked uploads, which s3rver stores
        // undecoded, so restic must not write a lock file there; a restore only needs to read.
        const res = spawnSync(
          'restic',
          ['--no-lock', 'restore', 'latest', '--target', join(target, 'out')],
          { env, encoding: 'utf8' },
        )
        expect(res.status, res.stderr).toBe(0)
        for (const [rel, data] of Object.entries(FILES)) {
          expect(
            readFileSync(join(target, 'out', alice.home, rel)).equals(Buffer.from(data)),
            rel,
          ).toBe(true)
        }
      } finally {
        rmSync(target, { recursive: true, force: true })
      }
    }, 120_000)

    it('survives s3rver killed mid-multipart-upload: no partial object, and restic check passes', async () => {
      mkdirSync(join(alice.home, 'big'))
      writeFileSync(join(alice.home, 'big/random.bin'), randomBytes(40 << 20))
      chownSync(join(alice.home, 'big'), alice.uid, alice.gid)
      chownSync(join(alice.home, 'big/random.bin'), alice.uid, alice.gid)
      const flaky = { endpoint: rec.endpoint, path: 'flaky', partSizeMb: '5' }
      const dest = await destination('S3 flaky', flaky)
      const pid = await policy(deps, alice.tenant.id, [dest.id], { name: 'Flaky' })
      const stop = watchRestic(alice.uid)
      const { job } = await requestBackup(deps.db, alice.tenant.id, pid, 'manual')
      runner.wake()
      // Kill while a part is on its way, holding back other writes so only multipart uploads are cut.
      await until(
        () =>
          server.openUploads('backups') > 0 &&
          rec.inFlight().some((r) => r.includes('partNumber=')),
        120_000,
      )
      rec.hold()
      await until(
        () => !rec.inFlight().some((r) => /^PUT (?!.*partNumber=)|^POST .*uploadId=/.test(r)),
        30_000,
      )
      await server.kill()
      rec.release()
      // While it is down, Test connection (blank secret: the stored one) says what is wrong.
      const deps2 = {
        db: deps.db,
        secretKey: deps.config.secretKey,
        drivers: deps.drivers,
        localRoot: deps.config.localRoot,
      }
      const down = await testConnection(
        deps2,
        alice.tenant,
        's3',
        { ...formOf(flaky), secretAccessKey: '' },
        dest,
      )
      expect(down).toEqual({ ok: false, message: `the connection to ${rec.endpoint} was cut off` })
      await new Promise((r) => setTimeout(r, 3000)) // the bridge's retries run out meanwhile
      await server.restart()
      const done = await waitJob(deps, alice.tenant.id, job.id, 240_000)
      for (const p of stop())
        for (const text of [p.environ, p.cmdline]) expect(text).not.toContain(SECRET)
      const runs = (await listRuns(deps.db, alice.tenant.id)).filter((r) => r.jobId === job.id)
      // restic retries its uploads itself, so the run usually recovers; a failed attempt says why.
      for (const r of runs.filter((r) => r.status === 'failed'))
        expect(r.error).toMatch(/S3 flaky: .+/)
      expect(done.status, done.lastError ?? '').toBe('done')

      // No partial object: every file restic stored is named by the SHA-256 of its bytes.
      const raw = new S3Client({
        region: 'us-east-1',
        endpoint: `http://${server.endpoint}`,
        forcePathStyle: true,
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: SECRET },
      })
      let token: string | undefined
      let checked = 0
      do {
        const page = await raw.send(
          new ListObjectsV2Command({
            Bucket: 'backups',
            Prefix: 'flaky/alice/',
            ContinuationToken: token,
          }),
        )
        for (const o of page.Contents ?? []) {
          if (o.Key === 'flaky/alice/config') continue
          const body = await raw.send(new GetObjectCommand({ Bucket: 'backups', Key: o.Key }))
          const sha = createHash('sha256')
            .update(await body.Body!.transformToByteArray())
            .digest('hex')
          expect(sha, o.Key).toBe(basename(o.Key!))
          checked++
        }
        token = page.NextContinuationToken
      } while (token)
      raw.destroy()
      expect(checked).toBeGreaterThan(3)

      const { results } = await runVerify(deps, alice.tenant, {
        destinationId: dest.id,
        subset: '100%',
      })
      expect(results).toEqual([
        { destination: 'S3 flaky', ok: true, message: expect.stringMatching(/healthy/) },
      ])
    }, 420_000)

    it('never stores or logs the secret access key', async () => {
      const db = await storedBytes(deps)
      const wal = Buffer.alloc(0) // storedBytes holds the WAL too
      expect(db.includes(SECRET)).toBe(false)
      expect(wal.includes(SECRET)).toBe(false)
      const text = JSON.stringify([
        await deps.db.select().from(runLogs),
        await deps.db.select().from(runStages),
        await deps.db.select().from(runsTable),
        await deps.db.query.jobs.findMany(),
      ])
      expect(text).not.toContain(SECRET)
      expect(text).not.toMatch(/rest:http/)
    })
  },
)
