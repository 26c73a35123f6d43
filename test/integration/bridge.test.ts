import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { localDriver } from '../../src/drivers/local/driver.ts'
import { StorageError, type Driver } from '../../src/drivers/types.ts'
import { withLimit, withRetry } from '../../src/drivers/with-retry.ts'
import { startBridge, type Bridge } from '../../src/engine/restic/bridge.ts'

const V2 = 'application/vnd.x.restic.rest.v2'
const hex = (seed: string) => createHash('sha256').update(seed).digest('hex')

function credentials(bridge: Bridge) {
  const m = /^rest:http:\/\/([\w-]+):([\w-]+)@127\.0\.0\.1:(\d+)\/$/.exec(bridge.url)
  if (!m) throw new Error(`unexpected bridge url shape`)
  return { user: m[1]!, pass: m[2]!, port: Number(m[3]) }
}

type Reply = {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** One raw HTTP request: the path goes out exactly as given (no `..` normalization). */
function call(
  bridge: Bridge,
  method: string,
  path: string,
  opts: { body?: Buffer | string; headers?: Record<string, string>; auth?: string | null } = {},
): Promise<Reply> {
  const { user, pass, port } = credentials(bridge)
  const auth = opts.auth === undefined ? `${user}:${pass}` : opts.auth
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: opts.headers,
        agent: false,
        ...(auth ? { auth } : {}),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        )
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** Every file under `dir` as relative path → sha256. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath ?? entry.path, entry.name)
    out[relative(dir, path)] = createHash('sha256')
      .update(await readFile(path))
      .digest('hex')
  }
  return out
}

describe('bridge protocol', () => {
  let dir: string
  let root: string
  let bridge: Bridge
  const logs: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bridge-proto-'))
    root = join(dir, 'repo')
    bridge = await startBridge(localDriver(root), { log: (m) => logs.push(m) })
  })
  afterAll(async () => {
    await bridge.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('listens on loopback behind random credentials', async () => {
    const other = await startBridge(localDriver(root))
    const [a, b] = [credentials(bridge), credentials(other)]
    expect(a.user).not.toBe(b.user)
    expect(a.pass.length).toBeGreaterThanOrEqual(32)
    expect(a.pass).not.toBe(b.pass)
    await other.close()
  })

  it('answers 401 to missing or wrong credentials, logging no secret', async () => {
    const { user, pass } = credentials(bridge)
    for (const auth of [null, `${user}:wrong`, `someone:${pass}`, `${user}:${pass}x`]) {
      const res = await call(bridge, 'GET', '/keys/', { auth })
      expect(res.status, String(auth)).toBe(401)
      expect(res.headers['www-authenticate']).toMatch(/^Basic/)
    }
    expect(logs.join('\n')).not.toContain(pass)
  })

  it('creates a repository and stores the config', async () => {
    expect((await call(bridge, 'POST', '/?create=true')).status).toBe(200)
    expect((await call(bridge, 'HEAD', '/config')).status).toBe(404)
    expect((await call(bridge, 'POST', '/config', { body: 'cfg-bytes' })).status).toBe(200)
    const head = await call(bridge, 'HEAD', '/config')
    expect([head.status, head.headers['content-length']]).toEqual([200, '9'])
    expect((await call(bridge, 'GET', '/config')).body.toString()).toBe('cfg-bytes')
    expect(await readFile(join(root, 'config'), 'utf8')).toBe('cfg-bytes')
  })

  it('stores objects in restic’s local layout and serves byte ranges', async () => {
    const name = hex('pack')
    const body = Buffer.from('0123456789')
    expect((await call(bridge, 'POST', `/data/${name}`, { body })).status).toBe(200)
    expect(await readFile(join(root, 'data', name.slice(0, 2), name))).toEqual(body)
    expect((await call(bridge, 'HEAD', `/data/${name}`)).headers['content-length']).toBe('10')

    const range = (r: string) => call(bridge, 'GET', `/data/${name}`, { headers: { Range: r } })
    const part = await range('bytes=2-5')
    expect([part.status, part.headers['content-range'], part.body.toString()]).toEqual([
      206,
      'bytes 2-5/10',
      '2345',
    ])
    const tail = await range('bytes=7-')
    expect([tail.status, tail.headers['content-range'], tail.body.toString()]).toEqual([
      206,
      'bytes 7-9/10',
      '789',
    ])
    expect((await range('bytes=4-100')).body.toString()).toBe('456789')
    expect((await range('bytes=10-')).status).toBe(416)
    expect((await range('bytes=-3')).status).toBe(416)
    const whole = await call(bridge, 'GET', `/data/${name}`)
    expect([whole.status, whole.body.toString()]).toEqual([200, '0123456789'])
  })

  it('lists names (v1) or names and sizes (v2), skipping stray files', async () => {
    const [a, b] = [hex('snap-a'), hex('snap-b')]
    await call(bridge, 'POST', `/snapshots/${a}`, { body: 'aa' })
    await call(bridge, 'POST', `/snapshots/${b}`, { body: 'bbb' })
    await writeFile(join(root, 'snapshots', 'README'), 'not an object')

    const v1 = await call(bridge, 'GET', '/snapshots/')
    expect(v1.headers['content-type']).toBe('application/vnd.x.restic.rest.v1')
    expect(JSON.parse(v1.body.toString()).sort()).toEqual([a, b].sort())

    const v2 = await call(bridge, 'GET', '/snapshots/', { headers: { Accept: V2 } })
    expect(v2.headers['content-type']).toBe(V2)
    const sorted = JSON.parse(v2.body.toString()).sort((x: any, y: any) =>
      x.name.localeCompare(y.name),
    )
    expect(sorted).toEqual(
      [
        { name: a, size: 2 },
        { name: b, size: 3 },
      ].sort((x, y) => x.name.localeCompare(y.name)),
    )
    const empty = await call(bridge, 'GET', '/locks/', { headers: { Accept: V2 } })
    expect([empty.status, empty.body.toString()]).toEqual([200, '[]'])
  })

  it('deletes objects, and answers 404 for missing ones', async () => {
    const name = hex('lock')
    await call(bridge, 'POST', `/locks/${name}`, { body: 'l' })
    expect((await call(bridge, 'DELETE', `/locks/${name}`)).status).toBe(200)
    expect((await call(bridge, 'HEAD', `/locks/${name}`)).status).toBe(404)
    expect((await call(bridge, 'GET', `/locks/${name}`)).status).toBe(404)
    expect((await call(bridge, 'DELETE', `/locks/${name}`)).status).toBe(200)
  })

  it('rejects bad names and traversal, writing nothing outside the layout', async () => {
    const before = await tree(dir)
    const attempts: Array<[string, string, number[]]> = [
      ['POST', '/data/../../etc', [400, 404]],
      ['POST', '/data/../../../escaped', [400, 404]],
      ['POST', '/../escaped', [400, 404]],
      ['POST', '/keys/..', [400]],
      ['POST', '/keys/..%2F..%2Fescaped', [400]],
      ['POST', `/keys/${hex('x').toUpperCase()}`, [400]],
      ['POST', `/keys/${hex('x').slice(1)}`, [400]],
      ['POST', `/keys/${hex('x')}/extra`, [404]],
      ['POST', `/data/ab/${hex('x')}`, [404]],
      ['POST', `/etc/${hex('x')}`, [404]],
      ['GET', '/data/../config', [400, 404]],
      ['DELETE', '/data/../config', [400, 404]],
      ['DELETE', '/', [405]],
    ]
    for (const [method, path, statuses] of attempts) {
      const res = await call(bridge, method, path, { body: method === 'POST' ? 'evil' : undefined })
      expect(statuses, `${method} ${path} → ${res.status}`).toContain(res.status)
    }
    expect(await tree(dir)).toEqual(before)
    expect(await readdir(dir)).toEqual(['repo'])
  })

  it('refuses uploads without Content-Length, and stores nothing from a short body', async () => {
    const name = hex('short')
    const { user, pass, port } = credentials(bridge)
    const chunked = await call(bridge, 'POST', `/index/${name}`, {
      headers: { 'Transfer-Encoding': 'chunked' },
      body: 'abc',
    })
    expect(chunked.status).toBe(411)

    // Promise 100 bytes, send 4, hang up: the driver's byte count must refuse the object.
    await new Promise<void>((resolve) => {
      const auth = Buffer.from(`${user}:${pass}`).toString('base64')
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /index/${name} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${auth}\r\n` +
            'Content-Length: 100\r\n\r\nabcd',
        )
        setTimeout(() => socket.destroy(), 50)
      })
      socket.on('close', () => resolve())
    })
    await new Promise((r) => setTimeout(r, 50))
    expect((await call(bridge, 'HEAD', `/index/${name}`)).status).toBe(404)
    expect(await readdir(join(root, 'index'))).toEqual([])
  })

  it('answers a failed upload 500 after one re-open attempt, leaving the retry to restic', async () => {
    const local = localDriver(root)
    let opens = 0
    const flaky: Driver = {
      ...local,
      async put(_key, open) {
        opens++
        for await (const _ of open());
        throw new StorageError('Transient', 'the remote hiccupped')
      },
    }
    const failing = await startBridge(withRetry(flaky, { baseMs: 50 }), { log: () => {} })
    const res = await call(failing, 'POST', `/keys/${hex('flaky')}`, { body: 'k' })
    expect([res.status, res.body.toString()]).toEqual([500, 'storage error (Transient)'])
    expect(opens).toBe(2) // the re-open failed, so no further retries

    await failing.close()
  })

  it('counts requests and object bytes', async () => {
    const before = bridge.stats()
    const name = hex('count')
    await call(bridge, 'POST', `/keys/${name}`, { body: Buffer.alloc(1000) })
    await call(bridge, 'GET', `/keys/${name}`)
    await call(bridge, 'GET', `/keys/${name}`, { headers: { Range: 'bytes=0-9' } })
    const after = bridge.stats()
    expect(after.requests - before.requests).toBe(3)
    expect(after.bytesIn - before.bytesIn).toBe(1000)
    expect(after.bytesOut - before.bytesOut).toBe(1010)
  })

  it('stops serving once closed', async () => {
    const other = await startBridge(localDriver(root))
    expect((await call(other, 'HEAD', '/config')).status).toBe(200)
    await other.close()
    await expect(call(other, 'HEAD', '/config')).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })
})

const hasRestic = spawnSync('restic', ['version']).status === 0
const skipped =
  'bridge.test.ts "bridge with real restic" (init, backup, check, restore through the bridge; ' +
  'stock restic on the same folder; wrong credentials)'
if (!hasRestic && process.env.CI === 'true') {
  describe('bridge with real restic', () => {
    it('needs restic installed when CI=true', () => {
      expect.fail(`restic is not on PATH, so ${skipped} cannot run`)
    })
  })
} else if (!hasRestic) {
  console.warn(`\n!!! SKIPPED ${skipped}: restic is not installed (apt-get install restic)\n`)
}

describe.skipIf(!hasRestic)('bridge with real restic', () => {
  let dir: string
  let source: string
  let root: string
  let bridge: Bridge
  const logs: string[] = []

  /** Runs restic asynchronously: the bridge answering it lives on this event loop. */
  function restic(args: string[], repository: string) {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      RESTIC_REPOSITORY: repository,
      RESTIC_PASSWORD: 'test repository password',
    }
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'restic',
        ['--cache-dir', join(dir, 'cache'), ...args],
        { env, maxBuffer: 1 << 24 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      )
    })
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bridge-restic-'))
    source = join(dir, 'source')
    root = join(dir, 'repo')
    await mkdir(join(source, 'nested/deeper'), { recursive: true })
    await writeFile(join(source, 'hello.txt'), 'hello restic\n')
    await writeFile(join(source, 'empty'), '')
    await writeFile(join(source, 'nested/deeper/random.bin'), randomBytes(10 << 20))
    for (let i = 0; i < 40; i++)
      await writeFile(join(source, 'nested', `small-${i}.txt`), `file ${i}\n`.repeat(i))
    const driver = withRetry(withLimit(localDriver(root), 8))
    bridge = await startBridge(driver, { log: (m) => logs.push(m) })
  })
  afterAll(async () => {
    await bridge?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('inits, backs up, lists, checks and restores through the bridge', async () => {
    const ok = async (args: string[]) => {
      const res = await restic(args, bridge.url)
      expect(res.code, `restic ${args[0]}: ${res.stderr}`).toBe(0)
      return res
    }
    await ok(['init'])
    await ok(['backup', '--host', 'test', source])
    const snapshots = JSON.parse((await ok(['snapshots', '--json'])).stdout)
    expect(snapshots).toHaveLength(1)
    expect(snapshots[0].paths).toEqual([source])
    await ok(['check', '--read-data'])
    await ok(['restore', 'latest', '--target', join(dir, 'restored')])
    expect(await tree(join(dir, 'restored', source))).toEqual(await tree(source))
    expect(bridge.stats().bytesIn).toBeGreaterThan(10 << 20)
    expect(bridge.stats().bytesOut).toBeGreaterThan(10 << 20)
    expect(logs).toEqual([])
  }, 120_000)

  it('leaves a folder stock restic opens as a local repository', async () => {
    const snapshots = await restic(['snapshots', '--json'], root)
    expect(snapshots.code, snapshots.stderr).toBe(0)
    expect(JSON.parse(snapshots.stdout)).toHaveLength(1)
    const restored = await restic(['restore', 'latest', '--target', join(dir, 'stock')], root)
    expect(restored.code, restored.stderr).toBe(0)
    expect(await tree(join(dir, 'stock', source))).toEqual(await tree(source))
  }, 120_000)

  it('fails restic when the bridge credentials are wrong', async () => {
    const wrong = bridge.url.replace(/:([\w-]+)@/, ':not-the-password@')
    const res = await restic(['snapshots', '--json'], wrong)
    expect(res.code).not.toBe(0)
    expect(res.stderr).toMatch(/401/)
  }, 120_000)
})
