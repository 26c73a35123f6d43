import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freshDeps, storedBytes } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { sftp, pinHostKey } from '../../src/drivers/sftp/index.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { storedValues } from '../../src/db/destinations.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listRuns } from '../../src/db/runs.ts'
import { getJob } from '../../src/db/jobs.ts'
import { guardPolicy, setAdminSetting } from '../../src/db/settings.ts'
import { runLogs, runStages, runs as runsTable, type Destination } from '../../src/db/schema.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'
import { makeKey, requireSshd, startSshd, type SshServer } from '../services/sshd.ts'
import { restoreAndCompare } from '../support/restore.ts'

describe.runIf(requireSshd() && rootAvailable())('sftp destination through the runner', () => {
  const deps = freshDeps({ drivers: { ...drivers, sftp } })
  let server: SshServer
  let runner: Runner
  let tenant: Awaited<ReturnType<typeof realTenant>>
  let dest: Destination
  let keyDir: string
  let login: ReturnType<typeof makeKey>
  const passphrase = `pass-${randomBytes(8).toString('hex')}`
  const seenRestic: { cmdline: string; environ: string }[] = []
  const files = {
    'public_html/index.html': '<h1>sftp</h1>\n',
    'data/blob.bin': randomBytes(3 << 20),
  }
  const remote = () => join(server.home, 'panel-backups', 'sftpt')
  const secretsOf = () => [server.password, passphrase, login.privateKey.split('\n')[2]!]

  beforeAll(async () => {
    server = await startSshd()
    keyDir = mkdtempSync(join(tmpdir(), 'sftp-keys-'))
    login = makeKey(keyDir, 'ed25519', { passphrase })
    server.authorize(login.publicKey)
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1', 'localhost', '::1'])
    tenant = await realTenant(deps, 'sftpt', files)
    const form = {
      host: server.host,
      port: String(server.port),
      path: 'panel-backups',
      user: server.user,
    }
    const secrets = { password: server.password, privateKey: login.privateKey, passphrase }
    // What the panel does at Test connection: pin the host key, store it with the form.
    const ctx = {
      tenantName: tenant.tenant.name,
      localRoot: deps.config.localRoot,
      guard: await guardPolicy(deps.db),
    }
    const { fingerprint } = await pinHostKey(
      { ...form, port: server.port, hostKey: '' },
      secrets,
      ctx,
    )
    dest = await saveDestination(
      { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
      tenant.tenant.id,
      'sftp',
      null,
      {
        name: 'Storage box',
        settings: { ...form, ...secrets, hostKey: fingerprint },
      },
    )
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
    await server?.stop()
    rmSync(keyDir, { recursive: true, force: true })
    if (tenant) rmSync(tenant.home, { recursive: true, force: true })
  })

  it('backs up to the server and restores byte for byte through the panel', async () => {
    const policyId = await policy(deps, tenant.tenant.id, [dest.id])
    const { job } = await requestBackup(deps.db, tenant.tenant.id, policyId, 'manual')
    const spy = watchRestic(seenRestic)
    runner.wake()
    const done = await waitJob(deps, tenant.tenant.id, job.id, 120_000).finally(spy.stop)
    expect(done.status, done.lastError ?? '').toBe('done')
    expect(existsSync(join(remote(), 'config'))).toBe(true)
    await restoreAndCompare(deps, runner, tenant.tenant, dest, files)
  }, 180_000)

  it('stock restic opens the repository over sftp and restores byte for byte', async () => {
    const kit = await recoveryKit(deps, tenant.tenant, dest)
    expect(kit.repository).toBe(
      `sftp://${server.user}@127.0.0.1:${server.port}/panel-backups/sftpt`,
    )
    expect(kit.note).toMatch(/~\/\.ssh/)
    const plain = makeKey(keyDir, 'rsa', { format: 'PEM' })
    server.authorize(plain.publicKey)
    const target = mkdtempSync(join(tmpdir(), 'sftp-kit-restore-'))
    const command = `ssh -p ${server.port} -i ${plain.path} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null ${server.user}@127.0.0.1 -s sftp`
    const env = {
      PATH: process.env.PATH,
      HOME: target,
      RESTIC_PASSWORD: kit.password,
      RESTIC_CACHE_DIR: join(target, '.cache'),
    }
    try {
      const res = spawnSync(
        'restic',
        [
          '-r',
          kit.repository,
          '-o',
          `sftp.command=${command}`,
          'restore',
          'latest',
          '--target',
          join(target, 'out'),
        ],
        { env, encoding: 'utf8' },
      )
      expect(res.status, res.stderr).toBe(0)
      for (const [rel, data] of Object.entries(files)) {
        expect(
          readFileSync(join(target, 'out', tenant.home, rel)).equals(Buffer.from(data)),
          rel,
        ).toBe(true)
      }
    } finally {
      rmSync(target, { recursive: true, force: true })
    }
  }, 120_000)

  it('keeps the destination secrets out of the database, logs and restic processes', async () => {
    expect(seenRestic.length).toBeGreaterThan(0)
    const db = [await storedBytes(deps)]
    const text = JSON.stringify([
      await deps.db.select().from(runLogs),
      await deps.db.select().from(runStages),
      await deps.db.select().from(runsTable),
      await deps.db.query.jobs.findMany(),
    ])
    for (const secret of secretsOf()) {
      expect(secret.length).toBeGreaterThan(8)
      for (const file of db) expect(file.includes(secret)).toBe(false)
      expect(text).not.toContain(secret)
      for (const p of seenRestic) {
        expect(p.cmdline).not.toContain(secret)
        expect(p.environ).not.toContain(secret)
      }
    }
    // restic was given the bridge, not the server.
    for (const p of seenRestic) {
      expect(p.environ).toMatch(/RESTIC_REPOSITORY=rest:http:\/\/[^@]+@127\.0\.0\.1:/)
      expect(p.environ).not.toContain(server.user)
    }
  })

  // sshd goes down mid-upload for a few seconds: restic retries through the bridge and the
  // run completes. (Left down, restic 0.14 retries each request for ~1.5 minutes and its lock
  // removal for ~3 more before the run fails: the next test shows that failure's reason fast.)
  it('survives sshd being killed mid-upload: the run retries and completes, nothing partial shows', async () => {
    writeFileSync(join(tenant.home, 'big.bin'), randomBytes(40 << 20))
    chownSync(join(tenant.home, 'big.bin'), tenant.uid, tenant.gid)
    const policyId = await policy(deps, tenant.tenant.id, [dest.id], { name: 'Big' })
    const before = dirSize(join(remote(), 'data'))
    const { job } = await requestBackup(deps.db, tenant.tenant.id, policyId, 'manual')
    runner.wake()
    for (const end = Date.now() + 60_000; dirSize(join(remote(), 'data')) < before + (4 << 20);) {
      if (Date.now() > end) throw new Error('the backup never started uploading')
      await new Promise((r) => setTimeout(r, 50))
    }
    await server.kill()
    // The upload that was cut off left a temp file on the server.
    expect(tempFiles(remote()).length).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 8_000))
    expect((await getJob(deps.db, tenant.tenant.id, job.id)).status).toBe('running')
    await server.restart()
    const done = await waitJob(deps, tenant.tenant.id, job.id, 240_000)
    expect(done.status, done.lastError ?? '').toBe('done')
    expect(done.attempts).toBe(1)
    const { results } = await runVerify(deps, tenant.tenant, {
      destinationId: dest.id,
      subset: '100%',
    })
    expect(results).toEqual([expect.objectContaining({ ok: true })])
    // No partial object is visible: the listing has no temp file, and every pack in it is named
    // by the SHA-256 of its bytes.
    const stored = storedValues(deps.config.secretKey, tenant.tenant.id, dest, sftp.settings)
    const d = sftp.open(stored.settings, stored.secrets, {
      tenantName: 'sftpt',
      localRoot: '',
      guard: await guardPolicy(deps.db),
    })
    try {
      let packs = 0
      for await (const { key } of d.list('')) {
        expect(key).not.toMatch(/\.tmp-/)
        if (!key.startsWith('data/')) continue
        const hash = createHash('sha256')
        for await (const chunk of await d.get(key)) hash.update(chunk)
        expect(hash.digest('hex'), key).toBe(key.split('/').at(-1))
        packs++
      }
      expect(packs).toBeGreaterThan(2)
    } finally {
      await d.close!()
    }
  }, 360_000)

  it('fails a run with a clear reason while sshd is down, and checks clean once it is back', async () => {
    await server.kill()
    const policyId = await policy(deps, tenant.tenant.id, [dest.id], { name: 'While down' })
    const { job } = await requestBackup(deps.db, tenant.tenant.id, policyId, 'manual')
    runner.wake()
    let current = await getJob(deps.db, tenant.tenant.id, job.id)
    for (const end = Date.now() + 60_000; !current.lastError && Date.now() < end;) {
      await new Promise((r) => setTimeout(r, 100))
      current = await getJob(deps.db, tenant.tenant.id, job.id)
    }
    await runner.stop()
    expect(current.lastError).toMatch(/^Storage box: connection refused by 127\.0\.0\.1:\d+$/)
    expect(current.status).toBe('queued') // transient: the runner tries again later
    const run = (await listRuns(deps.db, tenant.tenant.id)).find((r) => r.jobId === job.id)!
    expect(run).toMatchObject({ status: 'failed', error: current.lastError })
    await server.restart()
    const { results } = await runVerify(deps, tenant.tenant, { destinationId: dest.id })
    expect(results).toEqual([expect.objectContaining({ ok: true })])
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
  }, 120_000)
})

/** Records the argv and environment of every restic this process starts, until stopped. */
function watchRestic(into: { cmdline: string; environ: string }[]) {
  const seen = new Set<number>()
  const timer = setInterval(() => {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || seen.has(Number(name))) continue
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
        if (ppid !== process.pid || !stat.includes('(restic)')) continue
        into.push({
          cmdline: readFileSync(`/proc/${name}/cmdline`, 'utf8'),
          environ: readFileSync(`/proc/${name}/environ`, 'utf8'),
        })
        seen.add(Number(name))
      } catch {
        // exited meanwhile
      }
    }
  }, 20)
  return { stop: () => clearInterval(timer) }
}

/** In-flight or abandoned upload temp files (`.<name>.tmp-<hex>`) under `dir`. */
function tempFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) =>
    /(^|\/)\.[^/]+\.tmp-[0-9a-f]+$/.test(p),
  )
}

function dirSize(dir: string): number {
  if (!existsSync(dir)) return 0
  let n = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) n += statSync(join(entry.parentPath ?? entry.path, entry.name)).size
  }
  return n
}
