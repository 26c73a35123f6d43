import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import {
  dropbox,
  authorizeUrl,
  exchangeCode,
  newCodeVerifier,
} from '../../src/drivers/dropbox/index.ts'
import { classify } from '../../src/drivers/dropbox/errors.ts'
import { DropboxApiError } from '../../src/drivers/dropbox/client.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import { probe } from '../../src/drivers/probe.ts'
import { StorageError, type Driver } from '../../src/drivers/types.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import { startDropboxFake, type DropboxFake } from '../services/dropbox-fake.ts'
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

const LOOPBACK: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }
let fake: DropboxFake
const opened: Driver[] = []

beforeAll(async () => {
  fake = await startDropboxFake({ pageSize: 2 })
  process.env.PANEL_DROPBOX_API_BASE = fake.url
})
afterAll(async () => {
  await Promise.all(opened.map((d) => d.close?.()))
  await fake?.close()
  delete process.env.PANEL_DROPBOX_API_BASE
})

/** A driver for tenant `alice` under `remotePath`, with the fake's app and refresh token. */
function open(
  remotePath = `/t-${randomBytes(4).toString('hex')}`,
  secrets: Record<string, string> = {},
  guard = LOOPBACK,
) {
  const driver = dropbox.open(
    { appKey: fake.appKey, remotePath },
    { appSecret: fake.appSecret, refreshToken: fake.refreshToken, ...secrets },
    { tenantName: 'alice', localRoot: '/nonexistent', guard },
  )
  opened.push(driver)
  return driver
}

/** Runs `fn` with PANEL_DROPBOX_API_BASE pointing elsewhere. */
async function withBase<T>(base: string, fn: () => Promise<T>): Promise<T> {
  process.env.PANEL_DROPBOX_API_BASE = base
  try {
    return await fn()
  } finally {
    process.env.PANEL_DROPBOX_API_BASE = fake.url
  }
}

async function errorOf(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => expect.fail('expected a StorageError'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StorageError)
  return err as StorageError
}

const visible = (under: string) =>
  [...fake.files.values()]
    .map((f) => f.path)
    .filter((p) => p.toLowerCase().startsWith(under.toLowerCase()))

driverConformance('dropbox', async () => {
  const remote = `/conformance-${randomBytes(4).toString('hex')}`
  const driver = open(remote)
  return {
    driver,
    async cleanup() {
      await driver.close?.()
      for (const key of [...fake.files.keys()]) if (key.startsWith(remote)) fake.files.delete(key)
    },
  }
})

describe('dropbox settings', () => {
  it('validates the form: app key and secret required, refresh token optional and secret', () => {
    const bad = parseSettings(dropbox.settings, { appKey: '', remotePath: '/a/../b' })
    expect(bad).toMatchObject({
      ok: false,
      errors: {
        appKey: expect.any(String),
        appSecret: expect.any(String),
        remotePath: expect.any(String),
      },
    })
    const good = parseSettings(dropbox.settings, {
      appKey: 'abc123def',
      appSecret: 's3',
      refreshToken: 'rt',
      remotePath: '/Backups/site/',
    })
    expect(good).toEqual({
      ok: true,
      settings: { appKey: 'abc123def', remotePath: '/Backups/site/' },
      secrets: { appSecret: 's3', refreshToken: 'rt' },
    })
    expect(dropbox.settings.find((f) => f.name === 'refreshToken')).toMatchObject({
      advanced: true,
      help: expect.stringMatching(/Connect Dropbox/),
    })
  })

  it('roots the driver at /<remote path>/<tenant>, and refuses to open without a refresh token', async () => {
    const d = open('/Shared/Backups/')
    await putBytes(d, 'config', 'x')
    expect(fake.files.has('/shared/backups/alice/config')).toBe(true)
    const ctx = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }
    expect(() => dropbox.open({ appKey: 'k', remotePath: '' }, { appSecret: 's' }, ctx)).toThrow(
      /not connected yet: press Connect Dropbox/,
    )
  })

  it('gives stock restic an rclone repository at the same folder, credentials in the environment', () => {
    const ctx = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }
    const repo = dropbox.repository(
      { appKey: 'k1', remotePath: '/backups' },
      { appSecret: 's1', refreshToken: 'r1' },
      ctx,
    )
    expect(repo.repository).toBe('rclone:dropbox:backups/alice')
    expect(repo.env).toMatchObject({
      RCLONE_CONFIG_DROPBOX_TYPE: 'dropbox',
      RCLONE_CONFIG_DROPBOX_CLIENT_ID: 'k1',
      RCLONE_CONFIG_DROPBOX_CLIENT_SECRET: 's1',
    })
    expect(JSON.parse(repo.env!.RCLONE_CONFIG_DROPBOX_TOKEN!)).toMatchObject({
      refresh_token: 'r1',
    })
    expect(repo.note).toMatch(/rclone serve restic dropbox:backups\/alice/)
    expect(repo.note).not.toMatch(/s1|r1"/)
  })
})

describe('dropbox driver against the fake', () => {
  it('uploads small objects in one files/upload and large ones through an upload session', async () => {
    const d = open()
    const before = { ...fake.stats.requests }
    const count = (route: string) => (fake.stats.requests[route] ?? 0) - (before[route] ?? 0)
    await putBytes(d, 'small', randomBytes(1000))
    expect(count('files/upload')).toBe(1)
    expect(count('files/upload_session/start')).toBe(0)
    const big = randomBytes(20 << 20)
    await putBytes(d, 'data/ab/big', big)
    expect([
      count('files/upload'),
      count('files/upload_session/start'),
      count('files/upload_session/append_v2'),
      count('files/upload_session/finish'),
    ]).toEqual([1, 1, 1, 1])
    expect((await readAll(await d.get('data/ab/big'))).equals(big)).toBe(true)
    // Exactly one chunk long: a simple upload, and the source is still checked for extra bytes.
    const eight = randomBytes(8 << 20)
    await putBytes(d, 'eight', eight)
    expect(count('files/upload')).toBe(2)
    expect(
      await codeOf(
        d.put('nine', () => Readable.from([eight, Buffer.from('x')]), { size: 8 << 20 }),
      ),
    ).toBe('Transient')
  })

  it('leaves nothing visible when an upload session is interrupted, and keeps the old object', async () => {
    const remote = `/interrupt-${randomBytes(3).toString('hex')}`
    const d = open(remote)
    await putBytes(d, 'keep', 'old')
    const breaking = () =>
      Readable.from(
        (async function* () {
          for (let i = 0; i < 12; i++) yield randomBytes(1 << 20)
          throw new Error('client went away')
        })(),
      )
    const open0 = fake.sessions.size
    const err = await errorOf(d.put('keep', breaking, { size: 30 << 20 }))
    expect(err).toMatchObject({ code: 'Transient', message: 'the upload source failed' })
    expect(fake.sessions.size).toBe(open0 + 1) // started, never finished
    fake.inject('files/upload_session/append_v2', { status: 503, body: 'Service Unavailable' })
    expect(await errorOf(putBytes(d, 'new', randomBytes(20 << 20)))).toMatchObject({
      code: 'Transient',
      message: 'Dropbox had a server error (HTTP 503)',
    })
    expect(await keys(d, '')).toEqual(['keep'])
    expect(visible(remote)).toEqual([`${remote}/alice/keep`])
    expect((await readAll(await d.get('keep'))).toString()).toBe('old')
  })

  it('renews an access token that died early (401 expired_access_token) and re-sends the call', async () => {
    const d = open()
    fake.options.tokenTtl = 1
    fake.options.advertisedTtl = 14_400 // the driver believes its token is good for hours
    try {
      const expired = fake.stats.expired
      await putBytes(d, 'a', 'one')
      await new Promise((r) => setTimeout(r, 1100))
      await putBytes(d, 'b', randomBytes(10 << 20)) // session start after expiry: re-sent
      await new Promise((r) => setTimeout(r, 1100))
      expect((await readAll(await d.get('a'))).toString()).toBe('one')
      expect(fake.stats.expired).toBeGreaterThanOrEqual(expired + 2)
      expect(await d.stat('b')).toEqual({ key: 'b', size: 10 << 20 })
    } finally {
      fake.options.tokenTtl = 14_400
      fake.options.advertisedTtl = undefined
    }
  })

  it('renews a token before its advertised lifetime ends, without a 401', async () => {
    const d = open()
    fake.options.tokenTtl = 2
    try {
      const { expired, refreshes } = fake.stats
      await putBytes(d, 'x', 'x')
      await new Promise((r) => setTimeout(r, 2100))
      await d.stat('x')
      expect(fake.stats.expired).toBe(expired)
      expect(fake.stats.refreshes).toBe(refreshes + 2)
    } finally {
      fake.options.tokenTtl = 14_400
    }
  })

  it('pages through list_folder with cursors', async () => {
    const d = open()
    const want = Array.from({ length: 7 }, (_, i) => `index/${i}`)
    for (const k of want) await putBytes(d, k, k)
    const before = fake.stats.requests['files/list_folder/continue'] ?? 0
    expect(await keys(d, 'index/')).toEqual(want)
    expect(
      (fake.stats.requests['files/list_folder/continue'] ?? 0) - before,
    ).toBeGreaterThanOrEqual(3)
  })

  it('never removes a folder, only the file a key names', async () => {
    const d = open()
    await putBytes(d, 'dir/a', 'a')
    await d.remove('dir')
    expect(await keys(d, '')).toEqual(['dir/a'])
    expect(await codeOf(d.get('dir'))).toBe('NotFound')
    expect(await codeOf(d.stat('dir'))).toBe('NotFound')
  })

  it('reads a range that starts at the end as empty', async () => {
    const d = open()
    await putBytes(d, 'r', 'abc')
    expect((await readAll(await d.get('r', { range: { start: 3 } }))).length).toBe(0)
    expect((await readAll(await d.get('r', { range: { start: 1, end: 99 } }))).toString()).toBe(
      'bc',
    )
  })

  it('says “Dropbox is full” (NoSpace), rate limits and server errors (Transient) in plain words', async () => {
    const d = open()
    fake.options.quotaBytes = 0
    try {
      expect(await errorOf(putBytes(d, 'full', 'x'))).toMatchObject({
        code: 'NoSpace',
        message: expect.stringMatching(/^Dropbox is full/),
      })
    } finally {
      fake.options.quotaBytes = Infinity
    }
    fake.inject('files/get_metadata', {
      status: 429,
      headers: { 'Retry-After': '7' },
      body: { error_summary: 'too_many_requests/..', error: { '.tag': 'too_many_requests' } },
    })
    expect(await errorOf(d.stat('k'))).toMatchObject({
      code: 'Transient',
      message: 'Dropbox is rate-limiting requests (too many requests); it asked us to wait 7 s',
    })
    fake.inject('files/list_folder', { status: 500, body: 'Internal Server Error' })
    expect(await errorOf(keys(d, ''))).toMatchObject({
      code: 'Transient',
      message: 'Dropbox had a server error (HTTP 500)',
    })
    await putBytes(d, 'file', 'x')
    expect(await errorOf(putBytes(d, 'file/child', 'y'))).toMatchObject({
      code: 'BadConfig',
      message: expect.stringMatching(/in the way/),
    })
  })
})

describe('classify', () => {
  const api = (status: number, tag: string, summary = `${tag}/..`, route = 'files/upload') =>
    new DropboxApiError(route, status, tag, summary)
  const net = (code: string) =>
    Object.assign(new Error(`${code} secret-detail`), { code, address: '127.0.0.1', port: 9 })
  it.each([
    [api(401, 'invalid_access_token'), 'AuthFailed', /refused the access token/],
    [
      api(400, 'invalid_client', 'invalid_client', 'oauth2/token'),
      'AuthFailed',
      /app key or app secret was refused/,
    ],
    [
      api(400, 'invalid_grant', 'invalid_grant', 'oauth2/token'),
      'AuthFailed',
      /Connect Dropbox again/,
    ],
    [api(409, 'path', 'path/not_found/..'), 'NotFound', /does not exist/],
    [api(409, 'path_lookup', 'path_lookup/not_found/..'), 'NotFound', /does not exist/],
    [api(409, 'path', 'path/insufficient_space/..'), 'NoSpace', /^Dropbox is full/],
    [
      api(409, 'lookup_failed', 'lookup_failed/incorrect_offset/..'),
      'Transient',
      /upload session was interrupted/,
    ],
    [api(429, 'too_many_write_operations'), 'Transient', /rate-limiting/],
    [api(503, ''), 'Transient', /server error \(HTTP 503\)/],
    [
      api(400, '', 'Error in call to API function: Bearer sl.SECRET'),
      'BadConfig',
      /^Dropbox rejected the request as malformed/,
    ],
    [net('ECONNREFUSED'), 'Transient', /^connection to Dropbox refused by 127\.0\.0\.1:9$/],
    [net('ECONNRESET'), 'Transient', /cut off/],
    [net('ETIMEDOUT'), 'Transient', /timed out/],
    [net('CERT_HAS_EXPIRED'), 'BadConfig', /TLS certificate is not trusted/],
  ])('%s', (err, code, message) => {
    const got = classify(err)
    expect(got.code).toBe(code)
    expect(got.message).toMatch(message)
    expect(got.message).not.toMatch(/SECRET|secret-detail/)
  })
})

describe('Test connection (probe)', () => {
  it('connects: writes, reads back, lists and removes a test object', async () => {
    const remote = `/probe-${randomBytes(3).toString('hex')}`
    expect(await probe(open(remote))).toMatch(/^Connected/)
    expect(visible(remote)).toEqual([]) // the remote path did not exist: created, probe removed
  })

  it('reports a wrong app secret, a revoked connection and a file in place of the folder', async () => {
    expect(await errorOf(probe(open(undefined, { appSecret: 'wrong' })))).toMatchObject({
      code: 'AuthFailed',
      message: 'the app key or app secret was refused',
    })
    expect(await errorOf(probe(open(undefined, { refreshToken: 'rt.revoked' })))).toMatchObject({
      code: 'AuthFailed',
      message: expect.stringMatching(/revoked .*press Connect Dropbox again/),
    })
    const d = open('/occupied')
    // A file where the tenant's folder should be.
    fake.files.set('/occupied/alice', {
      path: '/occupied/alice',
      data: Buffer.from('f'),
      rev: '1',
      id: 'id:1',
      modified: '2020-01-01T00:00:00Z',
    })
    expect(await errorOf(probe(d))).toMatchObject({
      code: 'BadConfig',
      message: expect.stringMatching(/in the way/),
    })
  })

  it('reports a refused connection and a DNS failure in plain words', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo
        s.close(() => resolve(port))
      })
    })
    await withBase(`http://127.0.0.1:${closed}`, async () => {
      expect(await errorOf(probe(open()))).toMatchObject({
        code: 'Transient',
        message: `connection to Dropbox refused by 127.0.0.1:${closed}`,
      })
    })
    await withBase('http://no-such-host.invalid', async () => {
      expect(await errorOf(probe(open()))).toMatchObject({
        code: 'Transient',
        message: expect.stringMatching(
          /could not reach Dropbox: .*no-such-host\.invalid.* could not be found/,
        ),
      })
    })
  })

  it('is refused by the guard without an allowlist, making no connection', async () => {
    const before = JSON.stringify(fake.stats.requests)
    const err = await errorOf(probe(open(undefined, {}, { allow: [] })))
    expect(err).toMatchObject({
      code: 'BadConfig',
      message: expect.stringMatching(/127\.0\.0\.1.*loopback.*not allowed/),
    })
    await withBase(fake.url.replace('127.0.0.1', 'localhost'), async () => {
      const named = await errorOf(probe(open(undefined, {}, { allow: [] })))
      expect(named).toMatchObject({
        code: 'BadConfig',
        message: expect.stringMatching(/“localhost” resolves to .*not allowed/),
      })
    })
    expect(JSON.stringify(fake.stats.requests)).toBe(before)
  })
})

describe('Connect Dropbox (OAuth code flow)', () => {
  it('redirect flow: authorize URL → the fake redirects back with a code → refresh token that works', async () => {
    const redirectUri = 'https://panel.example/destinations/dropbox/callback'
    const codeVerifier = newCodeVerifier()
    const url = new URL(authorizeUrl(fake.appKey, { redirectUri, state: 'st-42', codeVerifier }))
    expect(url.origin + url.pathname).toBe(`${fake.url}/oauth2/authorize`)
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: fake.appKey,
      response_type: 'code',
      token_access_type: 'offline',
      state: 'st-42',
      redirect_uri: redirectUri,
      code_challenge_method: 'S256',
    })
    const res = await fetch(url, { redirect: 'manual' }) // the tenant's browser
    expect(res.status).toBe(302)
    const back = new URL(res.headers.get('location')!)
    expect(back.origin + back.pathname).toBe(redirectUri)
    expect(back.searchParams.get('state')).toBe('st-42')
    const code = back.searchParams.get('code')!
    const { refreshToken } = await exchangeCode(fake.appKey, fake.appSecret, code, redirectUri, {
      guard: LOOPBACK,
      codeVerifier,
    })
    expect(refreshToken).toMatch(/^rt\./)
    expect(await probe(open(undefined, { refreshToken }))).toMatch(/^Connected/)
    // A code works once.
    expect(
      await errorOf(
        exchangeCode(fake.appKey, fake.appSecret, code, redirectUri, {
          guard: LOOPBACK,
          codeVerifier,
        }),
      ),
    ).toMatchObject({ code: 'AuthFailed', message: expect.stringMatching(/refused the code/) })
  })

  it('paste flow: the page shows a code the tenant pastes; a wrong secret and the guard are plain errors', async () => {
    const page = await (await fetch(authorizeUrl(fake.appKey, { state: 's' }))).text()
    const code = /value="([^"]+)"/.exec(page)![1]!
    expect(
      await errorOf(exchangeCode(fake.appKey, 'wrong', code, undefined, { guard: LOOPBACK })),
    ).toMatchObject({ code: 'AuthFailed', message: 'the app key or app secret was refused' })
    expect(await errorOf(exchangeCode(fake.appKey, fake.appSecret, code, undefined))).toMatchObject(
      { code: 'BadConfig', message: expect.stringMatching(/loopback/) },
    )
    const { refreshToken } = await exchangeCode(
      fake.appKey,
      fake.appSecret,
      ` ${code}\n`,
      undefined,
      { guard: LOOPBACK },
    )
    expect(fake.issued).toContain(refreshToken)
  })
})

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

async function until(check: () => boolean, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs
  while (!check()) {
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
    const dest = destination('Dropbox', '/panel-backups')
    const pid = policy(deps, alice.tenant.id, [dest.id])
    fake.options.tokenTtl = 2
    fake.options.advertisedTtl = 14_400 // tokens die long before the driver expects: 401s mid-backup
    const { expired, refreshes } = fake.stats
    const spy = watchRestic()
    try {
      const { job } = requestBackup(deps.db, alice.tenant.id, pid, 'manual')
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
    expect(recoveryKit(deps, alice.tenant, dest).repository).toBe(
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
      deps.db.select().from(runLogs).all(),
      deps.db.select().from(runStages).all(),
      deps.db.select().from(runsTable).all(),
      deps.db.query.jobs.findMany().sync(),
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
    const dest = destination('Killed', '/killed')
    const pid = policy(deps, alice.tenant.id, [dest.id], { name: 'Killed' })
    const uploads = () =>
      (fake.stats.requests['files/upload_session/append_v2'] ?? 0) +
      (fake.stats.requests['files/upload_session/finish'] ?? 0)
    const before = uploads()
    const { job } = requestBackup(deps.db, alice.tenant.id, pid, 'manual')
    runner.wake()
    await until(() => uploads() > before + 2, 120_000, 'uploads to start')
    await fake.stop()
    const t0 = Date.now()
    let current = getJob(deps.db, alice.tenant.id, job.id)
    try {
      await until(
        () => {
          current = getJob(deps.db, alice.tenant.id, job.id)
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
