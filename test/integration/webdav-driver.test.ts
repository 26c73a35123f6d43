import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { webdav } from '../../src/drivers/webdav/index.ts'
import { RedirectRefused, classify } from '../../src/drivers/webdav/errors.ts'
import { probe } from '../../src/drivers/probe.ts'
import type { Driver } from '../../src/drivers/types.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import { requireApacheDav, startApacheDav, type ApacheDav } from '../services/apache-dav.ts'
import { closedPort, countingServer, errorOf, filesUnder } from '../support/storage.ts'

const LOOPBACK: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }

describe.runIf(requireApacheDav())('webdav driver against Apache mod_dav', () => {
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

  it('puts many objects into one new folder at once, as restic does', async () => {
    // Apache answers one of two MKCOLs racing for the same folder 403, not 405: about one in
    // twenty here. A backup in a clean-clone CI run failed on it as "no write permission".
    const d = driverFor({ tenant: 'parallel' })
    const expected: string[] = []
    for (let round = 0; round < 30; round++) {
      const folder = `data/${round.toString(16).padStart(2, '0')}`
      const batch = Array.from({ length: 8 }, (_, i) => `${folder}/pack-${i}`)
      expected.push(...batch)
      await Promise.all(batch.map((key) => putBytes(d, key, key)))
    }
    expect(await keys(d, '')).toEqual(expected.sort())
    expect(await readAll(await d.get('data/1d/pack-7'))).toEqual(Buffer.from('data/1d/pack-7'))
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

describe('webdav classify', () => {
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
})
