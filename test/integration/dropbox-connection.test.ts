import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { authorizeUrl, exchangeCode, newCodeVerifier } from '../../src/drivers/dropbox/index.ts'
import { probe } from '../../src/drivers/probe.ts'
import type { DropboxFake } from '../services/dropbox-fake.ts'
import { LOOPBACK, dropboxDrivers, startFake } from '../support/dropbox.ts'
import { errorOf } from '../support/storage.ts'

let fake: DropboxFake
const { open, withBase, visible, closeAll } = dropboxDrivers(() => fake)
beforeAll(async () => {
  fake = await startFake()
})
afterAll(closeAll)

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
