import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chownSync,
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { webdav, rcloneObscure } from '../../src/drivers/webdav/index.ts'
import { RedirectRefused, classify } from '../../src/drivers/webdav/errors.ts'
import { probe } from '../../src/drivers/probe.ts'
import { parseSettings, settingsOf } from '../../src/drivers/spec.ts'
import { StorageError, type Driver } from '../../src/drivers/types.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import { requireApacheDav, startApacheDav, type ApacheDav } from '../services/apache-dav.ts'
import { freshDeps } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
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
const hasApache = requireApacheDav()

/** Every file below `dir` (relative paths), for looking at what the server really stored. */
function filesUnder(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), `${rel}${e.name}/`) : [`${rel}${e.name}`],
  )
}

/** The StorageError `p` rejects with. */
async function errorOf(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => expect.fail('expected a StorageError, but the call succeeded'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StorageError)
  return err as StorageError
}

/** A TCP server that counts connections and answers each with `reply` (or nothing). */
async function countingServer(
  reply?: string,
): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let n = 0
  const server: Server = createServer((socket) => {
    n++
    socket.on('error', () => {})
    socket.once('data', () => (reply ? socket.end(reply) : socket.destroy()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => n,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

async function closedPort(): Promise<number> {
  const s = await countingServer()
  await s.close()
  return s.port
}

describe.runIf(hasApache)('webdav driver against Apache mod_dav', () => {
  let dav: ApacheDav
  const open: Driver[] = []
  const driverFor = (
    o: {
      url?: string
      path?: string
      tenant?: string
      password?: string
      guard?: GuardPolicy
    } = {},
  ) => {
    const d = webdav.open(
      { url: o.url ?? dav.url, path: o.path ?? 'backups', username: dav.username },
      { password: o.password ?? dav.password },
      {
        tenantName: o.tenant ?? `t${randomBytes(4).toString('hex')}`,
        localRoot: '/nonexistent',
        guard: o.guard ?? LOOPBACK,
      },
    )
    open.push(d)
    return d
  }

  beforeAll(async () => {
    dav = await startApacheDav({ password: `DAV-SECRET-${randomBytes(6).toString('hex')}` })
  }, 60_000)
  afterAll(async () => {
    await Promise.all(open.map((d) => d.close?.()))
    await dav?.destroy()
  })

  driverConformance('webdav', async () => {
    const tenant = `c${randomBytes(4).toString('hex')}`
    const driver = driverFor({ path: 'conformance', tenant })
    return {
      driver,
      cleanup: async () => {
        await driver.close?.()
        rmSync(join(dav.root, 'conformance', tenant), { recursive: true, force: true })
      },
    }
  })

  it('Test connection succeeds, creating a missing nested path', async () => {
    const d = driverFor({ path: '/deep/er/still/', tenant: 'alice' })
    expect(existsSync(join(dav.root, 'deep'))).toBe(false)
    expect(await probe(d)).toMatch(/^Connected/)
    expect(statSync(join(dav.root, 'deep/er/still/alice')).isDirectory()).toBe(true)
    expect(readdirSync(join(dav.root, 'deep/er/still/alice'))).toEqual([]) // the probe cleaned up
    // Tenants sharing the server and path never see each other's objects.
    const bob = driverFor({ path: 'deep/er/still', tenant: 'bob' })
    await putBytes(d, 'mine', 'alice')
    expect(await keys(bob, '')).toEqual([])
    expect(await keys(d, '')).toEqual(['mine'])
  })

  it('a wrong password fails as AuthFailed, in plain words without the password', async () => {
    const err = await errorOf(probe(driverFor({ password: 'not-the-password' })))
    expect(err.code).toBe('AuthFailed')
    expect(err.message).toMatch(/^bad credentials: .*user name or password/)
    expect(err.message).not.toContain('not-the-password')
  })

  it('a read-only folder fails as BadConfig “no write permission”', async () => {
    const err = await errorOf(probe(driverFor({ url: dav.readonlyUrl })))
    expect(err.code).toBe('BadConfig')
    expect(err.message).toMatch(/^no write permission/)
  })

  it('a URL that does not exist on the server fails with a plain reason', async () => {
    const url = `http://127.0.0.1:${dav.port}/no-such-dav`
    const err = await errorOf(probe(driverFor({ url })))
    expect(err.code).toBe('BadConfig')
    expect(err.message).toContain(`the address ${url} does not exist on the server`)
    expect(await codeOf(driverFor({ url }).stat('x'))).toBe('NotFound')
  })

  it('a closed port fails as “connection refused by host:port”', async () => {
    const port = await closedPort()
    const err = await errorOf(probe(driverFor({ url: `http://127.0.0.1:${port}/dav` })))
    expect(err.code).toBe('Transient')
    expect(err.message).toBe(`connection refused by 127.0.0.1:${port}`)
  })

  it('an unknown host fails as a DNS failure', async () => {
    const err = await errorOf(probe(driverFor({ url: 'https://no-such-host.invalid/dav' })))
    expect(err.code).toBe('BadConfig')
    expect(err.message).toMatch(/no-such-host\.invalid.*could not be found/)
  })

  it('the guard refuses 127.0.0.1 without an allowlist and makes no connection', async () => {
    const server = await countingServer('HTTP/1.1 500 x\r\ncontent-length: 0\r\n\r\n')
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const d = driverFor({ url: `http://${host}:${server.port}/dav`, guard: { allow: [] } })
        const err = await errorOf(probe(d))
        expect(err.code).toBe('BadConfig')
        expect(err.message).toMatch(/127\.0\.0\.1|::1/)
        expect(err.message).toMatch(/not allowed/)
        expect(await codeOf(d.stat('x'))).toBe('BadConfig')
        expect(await codeOf(keys(d, ''))).toBe('BadConfig')
      }
      expect(server.connections()).toBe(0)
    } finally {
      await server.close()
    }
  })

  it('refuses to follow a redirect, and never connects to its target', async () => {
    const target = await countingServer('HTTP/1.1 500 x\r\ncontent-length: 0\r\n\r\n')
    const location = `http://127.0.0.1:${target.port}/elsewhere/`
    const redirector = await countingServer(
      `HTTP/1.1 301 Moved\r\nLocation: ${location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    )
    try {
      const err = await errorOf(
        probe(driverFor({ url: `http://127.0.0.1:${redirector.port}/dav` })),
      )
      expect(err.code).toBe('BadConfig')
      expect(err.message).toContain(`redirected to http://127.0.0.1:${target.port}/elsewhere/`)
      expect(err.message).toMatch(/redirects are not followed/)
      expect(redirector.connections()).toBeGreaterThan(0)
      expect(target.connections()).toBe(0)
    } finally {
      await Promise.all([target.close(), redirector.close()])
    }
  })

  it('reports a full server (507) as NoSpace “out of space”', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip()
    const d = driverFor({ path: 'tiny', tenant: 'full' })
    await putBytes(d, 'seed', 'x') // creates the folders
    const mnt = join(dav.root, 'tiny/full')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,uid=33,gid=33,mode=0755', 'tmpfs', mnt])
    try {
      const err = await errorOf(putBytes(d, 'big', randomBytes(3 << 20)))
      expect(err.code).toBe('NoSpace')
      expect(err.message).toMatch(/^the server is out of space/)
      expect(await keys(d, '')).toEqual([])
    } finally {
      spawnSync('umount', ['-l', mnt])
    }
  })

  it('a server killed mid-upload leaves no object at the key', async () => {
    const tenant = 'killed'
    const d = driverFor({ path: 'kill', tenant })
    await putBytes(d, 'data/00/earlier', 'kept')
    const size = 20 << 20
    let sent = 0
    const slow = () =>
      Readable.from(
        (async function* () {
          while (sent < size) {
            const chunk = randomBytes(256 << 10)
            sent += chunk.length
            yield chunk
            await sleep(5)
          }
        })(),
      )
    // Settled (and handled) at once: it rejects while the server is being stopped.
    const put = d.put('data/00/partial', slow, { size })
    put.catch(() => {})
    while (sent < 4 << 20) await sleep(20)
    await dav.stop()
    try {
      const err = await errorOf(put)
      expect(err.code).toBe('Transient')
      expect(err.message).toMatch(/cut off|connection refused/)
      expect(err.message).not.toContain(dav.password)
    } finally {
      await dav.start()
    }
    expect(await codeOf(d.stat('data/00/partial'))).toBe('NotFound')
    expect(await keys(d, '')).toEqual(['data/00/earlier'])
    // On disk, nothing but the earlier object under a real key (a temp name is never a key).
    const onDisk = filesUnder(join(dav.root, 'kill', tenant))
    expect(onDisk).toContain('data/00/earlier')
    expect(onDisk).not.toContain('data/00/partial')
    expect(onDisk.filter((f) => !f.split('/').at(-1)!.startsWith('.'))).toEqual(['data/00/earlier'])
  }, 60_000)

  it('reads ranges up to and past the end of an object', async () => {
    const d = driverFor({ tenant: 'ranges' })
    const data = randomBytes(100_000)
    await putBytes(d, 'r', data)
    expect(await readAll(await d.get('r', { range: { start: 99_990 } }))).toEqual(
      data.subarray(99_990),
    )
    expect(await readAll(await d.get('r', { range: { start: 100_000 } }))).toEqual(Buffer.alloc(0))
    expect(await readAll(await d.get('r', { range: { start: 7, end: 70_007 } }))).toEqual(
      data.subarray(7, 70_007),
    )
  })

  it('removing a folder’s name is refused instead of deleting the folder', async () => {
    const d = driverFor({ tenant: 'folders' })
    await putBytes(d, 'dir/inner', 'x')
    expect(await codeOf(d.remove('dir'))).toBe('BadConfig')
    expect(await codeOf(d.stat('dir'))).toBe('NotFound')
    expect(await keys(d, '')).toEqual(['dir/inner'])
  })
})

describe('webdav settings and recovery kit', () => {
  const ctx = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }

  it('validates the URL and path, and keeps the password secret', () => {
    const ok = parseSettings(webdav.settings, {
      url: 'https://dav.example.com/remote.php/dav/files/me/',
      path: 'a/b',
      username: 'me',
      password: 'pw',
    })
    expect(ok).toEqual({
      ok: true,
      settings: {
        url: 'https://dav.example.com/remote.php/dav/files/me/',
        path: 'a/b',
        username: 'me',
      },
      secrets: { password: 'pw' },
    })
    const bad = parseSettings(webdav.settings, { url: 'ftp://x', path: 'a/../b' })
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.errors.url).toMatch(/https:\/\//)
      expect(bad.errors.path).toMatch(/\.\./)
    }
    const creds = parseSettings(webdav.settings, { url: 'https://me:pw@dav.example.com/' })
    expect(!creds.ok && creds.errors.url).toMatch(/own fields/)
    expect(parseSettings(webdav.settings, { url: 'not a url' }).ok).toBe(false)
  })

  it('classifies HTTP statuses and network errors in plain words', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ status: 401 }, 'AuthFailed', /^bad credentials/],
      [{ status: 403 }, 'BadConfig', /^no write permission/],
      [{ status: 404 }, 'NotFound', /does not exist/],
      [{ status: 409 }, 'NotFound', /does not exist/],
      [{ status: 507 }, 'NoSpace', /^the server is out of space/],
      [{ status: 502 }, 'Transient', /HTTP 502/],
      [{ status: 503 }, 'Transient', /HTTP 503/],
      [{ code: 'ECONNREFUSED' }, 'Transient', /^connection refused by h:443$/],
      [{ code: 'ETIMEDOUT' }, 'Transient', /^timed out/],
      [{ code: 'ECONNRESET' }, 'Transient', /cut off/],
      [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'BadConfig', /^TLS certificate not trusted/],
      [
        {
          code: 'EGUARD',
          message: 'request to http://h/ failed, reason: The host “h” is private.',
        },
        'BadConfig',
        /^The host “h” is private\.$/,
      ],
      [
        new RedirectRefused(302, 'https://other.example/x?token=1'),
        'BadConfig',
        /redirected to https:\/\/other\.example\/x;/,
      ],
    ]
    for (const [err, code, message] of cases) {
      const e = classify(err, 'h:443')
      expect([e.code, e.message], JSON.stringify(err)).toEqual([
        code,
        expect.stringMatching(message),
      ])
    }
  })

  it('obscures passwords exactly like `rclone obscure`', () => {
    expect(rcloneObscure('potato', Buffer.from('aaaaaaaaaaaaaaaa'))).toBe(
      'YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ',
    )
    expect(rcloneObscure('potato', Buffer.from('bbbbbbbbbbbbbbbb'))).toBe(
      'YmJiYmJiYmJiYmJiYmJiYp3gcEWbAw',
    )
  })

  it('gives an rclone repository for the same folder, with the remote in the environment', () => {
    const url = 'https://dav.example.com/remote.php/dav/files/me/'
    const repo = webdav.repository(
      { url, path: '/backups/panel/', username: 'me' },
      { password: 'pw' },
      ctx,
    )
    expect(repo.repository).toBe('rclone:panelwebdav:backups/panel/alice')
    expect(repo.env).toMatchObject({
      RCLONE_CONFIG_PANELWEBDAV_TYPE: 'webdav',
      RCLONE_CONFIG_PANELWEBDAV_URL: 'https://dav.example.com/remote.php/dav/files/me',
      RCLONE_CONFIG_PANELWEBDAV_USER: 'me',
    })
    expect(repo.env!.RCLONE_CONFIG_PANELWEBDAV_PASS).not.toBe('pw')
    expect(repo.note).toContain(
      '[panelwebdav]\ntype = webdav\nurl = https://dav.example.com/remote.php/dav/files/me\nvendor = other\nuser = me\n',
    )
    expect(repo.note).toContain('rclone serve restic')
    expect(repo.note).toContain('restic -r rclone:panelwebdav:backups/panel/alice')
    expect(repo.note).not.toContain('pw\n')
  })
})

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

describe.runIf(hasApache && rootAvailable())('backups to WebDAV through the runner', () => {
  const SECRET = `DAV-RUNNER-SECRET-${randomBytes(6).toString('hex')}`
  const deps = freshDeps({ drivers: { ...drivers, webdav } })
  const envBefore = process.env.PANEL_OUTBOUND_ALLOW
  const spies: ReturnType<typeof spawnSpy>[] = []
  let dav: ApacheDav
  let runner: Runner
  let alice: Awaited<ReturnType<typeof realTenant>>
  let dest: ReturnType<typeof saveDestination>
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
    dest = saveDestination(
      { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
      alice.tenant.id,
      'webdav',
      null,
      {
        name: 'Nextcloud',
        settings: { url: dav.url, path: 'panel/backups', username: dav.username, password: SECRET },
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
    const pid = policy(deps, alice.tenant.id, [dest.id], { name: 'Nightly' })
    const { job } = requestBackup(deps.db, alice.tenant.id, pid, 'manual')
    runner.wake()
    const done = await waitJob(deps, alice.tenant.id, job.id, 120_000)
    spy.stop()
    expect(done.status, done.lastError ?? '').toBe('done')
    expect(listRuns(deps.db, alice.tenant.id)[0]!.status).toBe('success')
    // restic's own layout, in <URL>/<path>/<tenant>.
    expect(existsSync(join(repoDir(), 'config'))).toBe(true)
    expect(readdirSync(join(repoDir(), 'snapshots'))).toHaveLength(1)
    expect(spy.seen.restic).toBeGreaterThan(0)
    expect(spy.seen.leaks).toEqual([])

    await restoreAndCompare(deps, runner, alice.tenant, dest, files)

    const kit = recoveryKit(deps, alice.tenant, dest)
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
    const pid = policy(deps, alice.tenant.id, [dest.id], { name: 'Big' })
    const { job } = requestBackup(deps.db, alice.tenant.id, pid, 'manual')
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
    for (const run of listRuns(deps.db, alice.tenant.id).filter(
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

  it('never stores or logs the WebDAV password in clear', () => {
    const db = readFileSync(deps.config.dbPath)
    const wal = existsSync(`${deps.config.dbPath}-wal`)
      ? readFileSync(`${deps.config.dbPath}-wal`)
      : Buffer.alloc(0)
    expect(db.includes(SECRET)).toBe(false)
    expect(wal.includes(SECRET)).toBe(false)
    const text = JSON.stringify([
      deps.db.select().from(runLogs).all(),
      deps.db.select().from(runStages).all(),
      deps.db.select().from(runsTable).all(),
      deps.db.query.jobs.findMany().sync(),
      deps.db.query.destinations.findMany().sync(),
    ])
    expect(text).not.toContain(SECRET)
    expect(JSON.stringify(process.env)).not.toContain(SECRET)
  })
})
