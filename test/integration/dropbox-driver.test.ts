import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { classify } from '../../src/drivers/dropbox/errors.ts'
import { DropboxApiError } from '../../src/drivers/dropbox/client.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import type { DropboxFake } from '../services/dropbox-fake.ts'
import { dropboxDrivers, startFake } from '../support/dropbox.ts'
import { errorOf } from '../support/storage.ts'

let fake: DropboxFake
const { open, visible, closeAll } = dropboxDrivers(() => fake)
beforeAll(async () => {
  fake = await startFake()
})
afterAll(closeAll)

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

describe('dropbox classify', () => {
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
