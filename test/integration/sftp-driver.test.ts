import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDeps } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { saveDestination, storedValues } from '../../src/domain/destinations.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { listRuns } from '../../src/db/runs.ts'
import { getJob } from '../../src/db/jobs.ts'
import { guardPolicy, setAdminSetting } from '../../src/db/settings.ts'
import { runLogs, runStages, runs as runsTable, type Destination } from '../../src/db/schema.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import { createHash, createPrivateKey, randomBytes } from 'node:crypto'
import { sftp, pinHostKey } from '../../src/drivers/sftp/index.ts'
import { settings } from '../../src/drivers/sftp/settings.ts'
import { classify, hostKeyChanged } from '../../src/drivers/sftp/errors.ts'
import { isSecret, parseSettings } from '../../src/drivers/spec.ts'
import type { DriverContext } from '../../src/drivers/registry.ts'
import type { Driver } from '../../src/drivers/types.ts'
import { driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import { probe } from '../../src/drivers/probe.ts'
import { StorageError } from '../../src/drivers/types.ts'
import { makeKey, requireSshd, startSshd, type SshServer } from '../services/sshd.ts'
import { restoreAndCompare } from '../support/restore.ts'

const LOOPBACK = { allow: ['127.0.0.1', 'localhost', '::1'] }
const run = requireSshd()

describe.runIf(run)('sftp driver', () => {
  let server: SshServer
  let keyDir: string
  const drivers: Driver[] = []
  const ctx = (tenantName = `t${randomBytes(4).toString('hex')}`): DriverContext => ({
    tenantName,
    localRoot: '/nonexistent',
    guard: LOOPBACK,
  })
  const values = (extra: Record<string, unknown> = {}) => ({
    host: server.host,
    port: server.port,
    path: join(server.home, 'backups'),
    user: server.user,
    hostKey: server.fingerprint(),
    ...extra,
  })
  const open = (
    extra: Record<string, unknown> = {},
    secrets: Record<string, string> = { password: server.password },
    c = ctx(),
  ) => {
    const d = sftp.open(values(extra), secrets, c)
    drivers.push(d)
    return d
  }

  const logins = () => (server.log().match(/Accepted (password|publickey) for /g) ?? []).length
  const connections = () => (server.log().match(/Connection from 127\.0\.0\.1/g) ?? []).length

  beforeAll(async () => {
    server = await startSshd()
    keyDir = mkdtempSync(join(tmpdir(), 'sftp-keys-'))
  })
  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.close?.()))
    await server?.stop()
    rmSync(keyDir, { recursive: true, force: true })
  })

  driverConformance('sftp', async () => {
    const d = open()
    return { driver: d, cleanup: async () => void (await d.close?.()) }
  })

  it('pins the host key as OpenSSH prints it', async () => {
    const { fingerprint } = await pinHostKey({ ...values(), hostKey: '' }, {}, ctx())
    expect(fingerprint).toBe(server.fingerprint())
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
  })

  it('Test connection succeeds, creating the missing remote path', async () => {
    const c = ctx()
    const path = join(server.home, 'not', 'yet', 'there')
    expect(await probe(open({ path }, undefined, c))).toMatch(/^Connected/)
    expect(statSync(join(path, c.tenantName)).isDirectory()).toBe(true)
  })

  it('reuses one SSH connection for many calls and closes it on close()', async () => {
    const before = logins()
    const d = open()
    await Promise.all(Array.from({ length: 8 }, (_, i) => putBytes(d, `many/${i}`, `object ${i}`)))
    expect(await keys(d, 'many/')).toHaveLength(8)
    await Promise.all(Array.from({ length: 8 }, (_, i) => d.remove(`many/${i}`)))
    expect(logins() - before).toBe(1)
    await d.close!()
    await putBytes(d, 'again', 'reconnects after close')
    expect(logins() - before).toBe(2)
  })

  it('writes under a relative path inside the login folder', async () => {
    const c = ctx()
    const d = open({ path: 'relative/backups' }, undefined, c)
    await putBytes(d, 'config', 'hello')
    expect(
      readFileSync(join(server.home, 'relative/backups', c.tenantName, 'config'), 'utf8'),
    ).toBe('hello')
    const tilde = open({ path: '~/relative/backups' }, undefined, c)
    expect((await readAll(await tilde.get('config'))).toString()).toBe('hello')
  })

  it('refuses bad credentials with AuthFailed and a plain message', async () => {
    const err = await failure(probe(open({}, { password: 'wrong password' })))
    expect(err).toMatchObject({ code: 'AuthFailed' })
    expect(err.message).toMatch(
      /^bad credentials: 127\.0\.0\.1:\d+ refused the user name, password or key$/,
    )
    expect(err.message).not.toContain('wrong password')
    const other = await failure(probe(open({ user: 'nobody-here' })))
    expect(other.code).toBe('AuthFailed')
  })

  it('says "connection refused" for a closed port, and "could not be found" for a bad host', async () => {
    const port = await closedPort()
    const refused = await failure(probe(open({ port })))
    expect(refused).toMatchObject({
      code: 'Transient',
      message: `connection refused by 127.0.0.1:${port}`,
    })
    const dns = await failure(probe(open({ host: 'no-such-host.invalid' })))
    expect(dns.code).toBe('BadConfig')
    expect(dns.message).toMatch(/no-such-host\.invalid.*could not be found/)
  })

  it('refuses a loopback host without an allowlist, and makes no connection', async () => {
    const seen = await countingServer()
    try {
      const c = { ...ctx(), guard: { allow: [] } }
      const d = sftp.open(values({ port: seen.port }), { password: server.password }, c)
      const err = await failure(probe(d))
      expect(err.code).toBe('BadConfig')
      expect(err.message).toMatch(/127\.0\.0\.1.*private, loopback or metadata address/)
      expect(
        (await failure(pinHostKey(values({ port: seen.port, hostKey: '' }), {}, c))).code,
      ).toBe('BadConfig')
      await new Promise((r) => setTimeout(r, 200))
      expect(seen.count()).toBe(0)
    } finally {
      await seen.close()
    }
  })

  it('refuses an unwritable remote path with "no write permission in <path>"', async () => {
    const locked = join(server.dir, 'root-owned')
    mkdirSync(locked, { mode: 0o755 })
    const err = await failure(probe(open({ path: locked })))
    expect(err.code).toBe('BadConfig')
    expect(err.message).toContain(`no write permission in ${locked}`)
  })

  it('refuses to connect before the host key is pinned, without connecting', async () => {
    const before = connections()
    const err = await failure(probe(open({ hostKey: '' })))
    expect(err).toMatchObject({
      code: 'BadConfig',
      message: "test the connection first to pin the server's host key",
    })
    expect(connections()).toBe(before)
  })

  describe('private keys', () => {
    const cases = [
      { type: 'rsa', format: 'PEM', passphrase: undefined },
      { type: 'ecdsa', format: 'OpenSSH', passphrase: 'ecdsa key passphrase' },
      { type: 'ed25519', format: 'OpenSSH', passphrase: undefined },
      { type: 'rsa', format: 'OpenSSH', passphrase: 'rsa key passphrase' },
      { type: 'ecdsa', format: 'PEM', passphrase: undefined },
    ] as const
    it.each(cases)(
      'logs in with an $type key in $format format (passphrase: $passphrase)',
      async ({ type, format, passphrase }) => {
        const key = makeKey(keyDir, type, { format, passphrase })
        server.authorize(key.publicKey)
        const secrets = { privateKey: key.privateKey, ...(passphrase ? { passphrase } : {}) }
        expect(await probe(open({}, secrets))).toMatch(/^Connected/)
      },
    )

    it('logs in with PKCS#8 keys (openssl), ed25519 and encrypted RSA included', async () => {
      for (const [algo, pass] of [
        ['ed25519', undefined],
        ['rsa', 'pkcs8 passphrase'],
      ] as const) {
        const path = join(keyDir, `pkcs8-${algo}`)
        execFileSync(
          'openssl',
          [
            'genpkey',
            '-algorithm',
            algo,
            ...(algo === 'rsa' ? ['-pkeyopt', 'rsa_keygen_bits:2048'] : []),
            '-out',
            path,
            ...(pass ? ['-aes-256-cbc', '-pass', `pass:${pass}`] : []),
          ],
          { stdio: 'pipe' },
        )
        chmodSync(path, 0o600)
        // OpenSSH cannot read a PKCS#8 ed25519 key: build its public line from the raw key.
        const pub =
          algo === 'ed25519'
            ? ed25519PublicLine(readFileSync(path, 'utf8'))
            : execFileSync('ssh-keygen', ['-y', '-f', path, '-P', pass ?? ''], { encoding: 'utf8' })
        server.authorize(pub)
        const privateKey = readFileSync(path, 'utf8')
        expect(privateKey).toMatch(pass ? /BEGIN ENCRYPTED PRIVATE KEY/ : /BEGIN PRIVATE KEY/)
        expect(
          await probe(open({}, { privateKey, ...(pass ? { passphrase: pass } : {}) })),
        ).toMatch(/^Connected/)
      }
    })

    it('says so when the passphrase is missing or wrong, or the key is unknown', async () => {
      const key = makeKey(keyDir, 'ed25519', { passphrase: 'right passphrase' })
      server.authorize(key.publicKey)
      const missing = await failure(probe(open({}, { privateKey: key.privateKey })))
      expect(missing).toMatchObject({
        code: 'AuthFailed',
        message: 'the private key’s passphrase is missing or wrong',
      })
      const wrong = await failure(
        probe(open({}, { privateKey: key.privateKey, passphrase: 'wrong' })),
      )
      expect(wrong).toMatchObject({
        code: 'AuthFailed',
        message: 'the private key’s passphrase is missing or wrong',
      })
      const pem = makeKey(keyDir, 'rsa', { format: 'PEM', passphrase: 'right passphrase' })
      const wrongPem = await failure(
        probe(open({}, { privateKey: pem.privateKey, passphrase: 'wrong' })),
      )
      expect(wrongPem.code).toBe('AuthFailed')
      const stranger = makeKey(keyDir, 'ed25519')
      expect((await failure(probe(open({}, { privateKey: stranger.privateKey })))).code).toBe(
        'AuthFailed',
      )
      const garbage = await failure(
        probe(
          open(
            {},
            {
              privateKey:
                '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----',
            },
          ),
        ),
      )
      expect(garbage.code).toBe('BadConfig')
    })
  })

  it('fails a put cleanly when sshd dies mid-upload, and reconnects once it is back', async () => {
    const d = open()
    await putBytes(d, 'big/keep', 'older object')
    let sent = 0
    let killed: Promise<void> | undefined
    const source = () =>
      Readable.from(
        (async function* () {
          for (;;) {
            yield randomBytes(256 * 1024)
            sent += 256 * 1024
            if (sent === 8 << 20) killed = server.kill()
            await new Promise((r) => setTimeout(r, 2))
          }
        })(),
      )
    const err = await failure(d.put('big/object', source, { size: 64 << 20 }))
    expect(err.code).toBe('Transient')
    expect(err.message).toMatch(/^the connection to 127\.0\.0\.1:\d+ was lost$/)
    await killed
    const down = await failure(d.stat('big/keep'))
    expect(down.message).toMatch(/^connection refused by 127\.0\.0\.1:\d+$/)
    await server.restart()
    // The same driver reconnects; the half-written object is nowhere to be seen.
    expect(await keys(d, '')).toEqual(['big/keep'])
    expect((await failure(d.stat('big/object'))).code).toBe('NotFound')
    expect((await readAll(await d.get('big/keep'))).toString()).toBe('older object')
  }, 60_000)

  it('checks the pinned host key on every connection, and refuses a changed one', async () => {
    const old = server.fingerprint()
    const d = open({ hostKey: old })
    await putBytes(d, 'pinned', 'x')
    await d.close!()
    await server.restart({ newHostKey: true })
    const now = server.fingerprint()
    expect(now).not.toBe(old)
    const before = logins()
    const err = await failure(d.stat('pinned'))
    expect(err.code).toBe('BadConfig')
    expect(err.message).toContain(`the server's host key changed: expected ${old}, got ${now}`)
    // Nothing was sent to the impostor: the handshake stopped before authentication.
    expect(logins()).toBe(before)
    const again = await failure(pinHostKey(values({ hostKey: old }), {}, ctx()))
    expect(again.message).toContain(`expected ${old}, got ${now}`)
    // Clearing the pin (a real reinstall) pins the new key.
    expect(await pinHostKey(values({ hostKey: '' }), {}, ctx())).toEqual({ fingerprint: now })
    expect(await probe(open({ hostKey: now }))).toMatch(/^Connected/)
  })
})

describe.runIf(run && rootAvailable())('sftp destination through the runner', () => {
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
    setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1', 'localhost', '::1'])
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
      guard: guardPolicy(deps.db),
    }
    const { fingerprint } = await pinHostKey(
      { ...form, port: server.port, hostKey: '' },
      secrets,
      ctx,
    )
    dest = saveDestination(
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
    const policyId = policy(deps, tenant.tenant.id, [dest.id])
    const { job } = requestBackup(deps.db, tenant.tenant.id, policyId, 'manual')
    const spy = watchRestic(seenRestic)
    runner.wake()
    const done = await waitJob(deps, tenant.tenant.id, job.id, 120_000).finally(spy.stop)
    expect(done.status, done.lastError ?? '').toBe('done')
    expect(existsSync(join(remote(), 'config'))).toBe(true)
    await restoreAndCompare(deps, runner, tenant.tenant, dest, files)
  }, 180_000)

  it('stock restic opens the repository over sftp and restores byte for byte', async () => {
    const kit = recoveryKit(deps, tenant.tenant, dest)
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

  it('keeps the destination secrets out of the database, logs and restic processes', () => {
    expect(seenRestic.length).toBeGreaterThan(0)
    const db = ['', '-wal', '-shm'].map((ext) =>
      existsSync(deps.config.dbPath + ext)
        ? readFileSync(deps.config.dbPath + ext)
        : Buffer.alloc(0),
    )
    const text = JSON.stringify([
      deps.db.select().from(runLogs).all(),
      deps.db.select().from(runStages).all(),
      deps.db.select().from(runsTable).all(),
      deps.db.query.jobs.findMany().sync(),
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
    const policyId = policy(deps, tenant.tenant.id, [dest.id], { name: 'Big' })
    const before = dirSize(join(remote(), 'data'))
    const { job } = requestBackup(deps.db, tenant.tenant.id, policyId, 'manual')
    runner.wake()
    for (const end = Date.now() + 60_000; dirSize(join(remote(), 'data')) < before + (4 << 20);) {
      if (Date.now() > end) throw new Error('the backup never started uploading')
      await new Promise((r) => setTimeout(r, 50))
    }
    await server.kill()
    // The upload that was cut off left a temp file on the server.
    expect(tempFiles(remote()).length).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 8_000))
    expect(getJob(deps.db, tenant.tenant.id, job.id).status).toBe('running')
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
      guard: guardPolicy(deps.db),
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
    const policyId = policy(deps, tenant.tenant.id, [dest.id], { name: 'While down' })
    const { job } = requestBackup(deps.db, tenant.tenant.id, policyId, 'manual')
    runner.wake()
    let current = getJob(deps.db, tenant.tenant.id, job.id)
    for (const end = Date.now() + 60_000; !current.lastError && Date.now() < end;) {
      await new Promise((r) => setTimeout(r, 100))
      current = getJob(deps.db, tenant.tenant.id, job.id)
    }
    await runner.stop()
    expect(current.lastError).toMatch(/^Storage box: connection refused by 127\.0\.0\.1:\d+$/)
    expect(current.status).toBe('queued') // transient: the runner tries again later
    const run = listRuns(deps.db, tenant.tenant.id).find((r) => r.jobId === job.id)!
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

describe('sftp settings, repository string and classify', () => {
  const ctx: DriverContext = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }
  const base = {
    host: 'backup.example.com',
    port: 22,
    user: 'bk',
    path: '/srv/backups',
    hostKey: '',
  }

  it('gives stock restic the same folder, in its sftp: forms', () => {
    expect(sftp.repository(base, {}, ctx).repository).toBe(
      'sftp:bk@backup.example.com:/srv/backups/alice',
    )
    expect(sftp.repository({ ...base, path: 'backups/' }, {}, ctx).repository).toBe(
      'sftp:bk@backup.example.com:backups/alice',
    )
    expect(sftp.repository({ ...base, path: '~/backups' }, {}, ctx).repository).toBe(
      'sftp:bk@backup.example.com:backups/alice',
    )
    // restic drops the first / after host:port, so an absolute path shows two.
    expect(sftp.repository({ ...base, port: 2222 }, {}, ctx).repository).toBe(
      'sftp://bk@backup.example.com:2222//srv/backups/alice',
    )
    expect(sftp.repository({ ...base, host: '2001:db8::5' }, {}, ctx).repository).toBe(
      'sftp://bk@[2001:db8::5]:22//srv/backups/alice',
    )
    const kit = sftp.repository(
      { ...base, hostKey: 'SHA256:' + 'A'.repeat(43) },
      { password: 'hunter2-secret', privateKey: 'PRIVATE' },
      ctx,
    )
    expect((kit as { env?: unknown }).env).toBeUndefined()
    expect(kit.note).toContain('~/.ssh')
    expect(kit.note).toContain('SHA256:' + 'A'.repeat(43))
    expect(JSON.stringify(kit)).not.toMatch(/hunter2-secret|PRIVATE/)
  })

  it('validates the form: host, port, key and fingerprint', () => {
    const form = {
      host: 'backup.example.com',
      port: '22',
      path: 'backups',
      user: 'bk',
      password: 'pw',
    }
    expect(parseSettings(settings, form)).toMatchObject({
      ok: true,
      settings: { port: 22, hostKey: '' },
      secrets: { password: 'pw' },
    })
    expect(parseSettings(settings, { ...form, port: '' })).toMatchObject({
      ok: true,
      settings: { port: null },
    })
    const bad = parseSettings(settings, {
      ...form,
      host: 'sftp://backup.example.com',
      port: '70000',
      privateKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI bk@laptop',
      hostKey: 'MD5:12:34',
    })
    expect(bad.ok).toBe(false)
    expect(Object.keys((bad as { errors: object }).errors).sort()).toEqual([
      'host',
      'hostKey',
      'port',
      'privateKey',
    ])
    expect(parseSettings(settings, { ...form, host: 'bk@backup.example.com' })).toMatchObject({
      ok: false,
      errors: { host: expect.stringMatching(/User field/) },
    })
    expect(parseSettings(settings, { ...form, hostKey: 'SHA256:' + 'x'.repeat(43) })).toMatchObject(
      { ok: true },
    )
    expect(settings.filter((f) => isSecret(f)).map((f) => f.name)).toEqual([
      'password',
      'privateKey',
      'passphrase',
    ])
  })

  it('refuses to connect when no host key is pinned', async () => {
    const d = sftp.open({ ...base, host: '127.0.0.1' }, { password: 'x' }, ctx)
    expect(await failure(d.stat('config'))).toMatchObject({
      code: 'BadConfig',
      message: "test the connection first to pin the server's host key",
    })
  })

  const sftpError = (code: number, message: string) => Object.assign(new Error(message), { code })
  const sockError = (code: string) =>
    Object.assign(new Error(`connect ${code} 10.0.0.1:22`), { code, level: 'client-socket' })
  it.each([
    [
      Object.assign(new Error('All configured authentication methods failed'), {
        level: 'client-authentication',
      }),
      'AuthFailed',
      'bad credentials: h:22 refused the user name, password or key',
    ],
    [
      new Error(
        'Cannot parse privateKey: Encrypted private OpenSSH key detected, but no passphrase given',
      ),
      'AuthFailed',
      'the private key’s passphrase is missing or wrong',
    ],
    [
      new Error('Cannot parse privateKey: Unsupported key format'),
      'BadConfig',
      'the private key could not be read: use an RSA, ECDSA or ed25519 key in OpenSSH or PEM format',
    ],
    [sftpError(2, 'No such file'), 'NotFound', 'the object does not exist'],
    [sftpError(3, 'Permission denied'), 'BadConfig', 'no write permission in /srv/b on h:22'],
    [
      sftpError(14, 'No space on filesystem'),
      'NoSpace',
      'h:22 is out of space (its disk or your quota is full)',
    ],
    [
      sftpError(15, 'Quota exceeded'),
      'NoSpace',
      'h:22 is out of space (its disk or your quota is full)',
    ],
    [sftpError(4, 'Failure'), 'Transient', 'the SFTP server reported a failure (Failure)'],
    [sockError('ECONNREFUSED'), 'Transient', 'connection refused by h:22'],
    [sockError('ETIMEDOUT'), 'Transient', 'timed out connecting to h:22'],
    [
      sockError('ENOTFOUND'),
      'BadConfig',
      'the host of h:22 could not be found (DNS lookup failed)',
    ],
    [
      Object.assign(new Error('Timed out while waiting for handshake'), {
        level: 'client-timeout',
      }),
      'Transient',
      'timed out waiting for h:22 to answer',
    ],
    [new Error('No response from server'), 'Transient', 'the connection to h:22 was lost'],
  ] as const)('%s → %s', (err, code, message) => {
    expect(classify(err, { server: 'h:22', path: '/srv/b' })).toMatchObject({
      code,
      message,
      cause: err,
    })
  })

  it('words a host key mismatch as a refusal', () => {
    const e = hostKeyChanged('SHA256:old', 'SHA256:new')
    expect(e.code).toBe('BadConfig')
    expect(e.message).toMatch(
      /^the server's host key changed: expected SHA256:old, got SHA256:new\./,
    )
  })
})

/** The StorageError `p` rejects with. */
async function failure(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => expect.fail('expected a StorageError, but the call succeeded'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StorageError)
  return err as StorageError
}

async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as AddressInfo
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** A TCP server on loopback that only counts the connections it gets. */
async function countingServer() {
  let n = 0
  const s = createServer((sock) => {
    n++
    sock.destroy()
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return {
    port: (s.address() as AddressInfo).port,
    count: () => n,
    close: () => new Promise((r) => s.close(r)),
  }
}

function ed25519PublicLine(pem: string): string {
  const x = Buffer.from(createPrivateKey(pem).export({ format: 'jwk' }).x!, 'base64url')
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b])
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(x)]).toString('base64')} pkcs8`
}
