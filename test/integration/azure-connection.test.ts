import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { azureDriver } from '../../src/drivers/azure/driver.ts'
import { probe } from '../../src/drivers/probe.ts'
import { codeOf, keys, putBytes, readAll } from '../drivers/suite.ts'
import {
  DEV_ACCOUNT,
  DEV_KEY,
  requireAzurite,
  startAzurite,
  type AzuriteServer,
} from '../services/azurite.ts'
import { CONTAINER, LOOPBACK, accountSas, azureDrivers } from '../support/azure.ts'
import { closedPort, errorOf } from '../support/storage.ts'

describe.runIf(requireAzurite())('Azure Blob Test connection (Azurite)', () => {
  let az: AzuriteServer
  const { open, closeAll } = azureDrivers(() => az)
  beforeAll(async () => {
    az = await startAzurite()
    await az.createContainer(CONTAINER)
  }, 60_000)
  afterAll(async () => {
    await closeAll()
    await az?.stop()
  })

  it('succeeds with the account key and with an account SAS token', async () => {
    expect(await probe(open())).toMatch(/^Connected/)
    expect(await probe(open({}, { sasToken: accountSas() }))).toMatch(/^Connected/)
    expect(await probe(open({}, { sasToken: `?${accountSas()}` }))).toMatch(/^Connected/)
  })

  it('roots every object at <path>/<tenant>/ so tenants sharing a container never collide', async () => {
    const a = open({ path: 'shared/backups' }, undefined, { tenant: 'alice' })
    const b = open({ path: 'shared/backups' }, undefined, { tenant: 'bob' })
    await putBytes(a, 'config', 'alice')
    await putBytes(b, 'config', 'bob')
    expect((await readAll(await a.get('config'))).toString()).toBe('alice')
    expect(await keys(b, '')).toEqual(['config'])
    const names: string[] = []
    for await (const blob of az.service
      .getContainerClient(CONTAINER)
      .listBlobsFlat({ prefix: 'shared/' }))
      names.push(blob.name)
    expect(names.sort()).toEqual(['shared/backups/alice/config', 'shared/backups/bob/config'])
  })

  it('says plainly when the account key is wrong (AuthFailed)', async () => {
    const err = await errorOf(probe(open({}, { accountKey: randomBytes(64).toString('base64') })))
    expect(err.code).toBe('AuthFailed')
    expect(err.message).toBe('bad credentials: the account key was refused')
  })

  it('says plainly when the SAS token is wrong, expired or lacks permissions (AuthFailed)', async () => {
    const forged = await errorOf(
      probe(open({}, { sasToken: accountSas({ key: randomBytes(64).toString('base64') }) })),
    )
    expect(forged).toMatchObject({
      code: 'AuthFailed',
      message: 'bad credentials: the SAS token was refused',
    })
    const expired = await errorOf(
      probe(open({}, { sasToken: accountSas({ expiresOn: new Date(Date.now() - 60_000) }) })),
    )
    expect(expired.code).toBe('AuthFailed')
    const readOnly = await errorOf(probe(open({}, { sasToken: accountSas({ permissions: 'rl' }) })))
    expect(readOnly.code).toBe('AuthFailed')
    expect(readOnly.message).toMatch(/SAS token/)
  })

  it('names a container that does not exist (BadConfig)', async () => {
    const err = await errorOf(probe(open({ container: 'no-such-container' })))
    expect(err).toMatchObject({
      code: 'BadConfig',
      message: 'container “no-such-container” does not exist',
    })
  })

  it('says the connection was refused when nothing listens (Transient)', async () => {
    const port = await closedPort()
    const err = await errorOf(probe(open({ endpoint: `http://127.0.0.1:${port}/${DEV_ACCOUNT}` })))
    expect(err).toMatchObject({
      code: 'Transient',
      message: `connection refused by 127.0.0.1:${port}`,
    })
  })

  it('says the host could not be found when DNS fails (BadConfig)', async () => {
    const err = await errorOf(
      probe(open({ endpoint: `https://no-such-host.invalid/${DEV_ACCOUNT}` })),
    )
    expect(err.code).toBe('BadConfig')
    expect(err.message).toMatch(/“no-such-host\.invalid” could not be found/)
  })

  it('refuses loopback without an allowlist, by IP literal and by name, making no connection', async () => {
    const connections: unknown[] = []
    const server: Server = createServer((socket) => (connections.push(socket), socket.destroy()))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    try {
      for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
        const driver = open({ endpoint: `http://${host}:${port}/${DEV_ACCOUNT}` }, undefined, {
          guard: { allow: [] },
        })
        const err = await errorOf(probe(driver))
        expect(err.code).toBe('BadConfig')
        expect(err.message).toMatch(
          /private, loopback or metadata address; connections there are not allowed/,
        )
        expect(await codeOf(driver.stat('config'))).toBe('BadConfig')
        expect(await codeOf(keys(driver, ''))).toBe('BadConfig')
      }
      expect(connections).toHaveLength(0)
    } finally {
      server.close()
    }
  })

  it('gives up on a server that accepts but never answers (timed out)', async () => {
    const sockets: Socket[] = []
    const server = createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`
    const d = azureDriver({
      account: DEV_ACCOUNT,
      key: DEV_KEY,
      container: CONTAINER,
      prefix: 'x/',
      endpoint,
      guard: LOOPBACK,
      idleMs: 300,
    })
    try {
      expect(await errorOf(d.stat('config'))).toMatchObject({
        code: 'Transient',
        message: 'timed out',
      })
      expect(sockets.length).toBeGreaterThan(0)
    } finally {
      await d.close?.()
      for (const socket of sockets) socket.destroy()
      server.close()
    }
  })

  it('verifies TLS: a self-signed certificate is refused (BadConfig)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'azure-tls-'))
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ].concat([
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]),
      { stdio: 'pipe' },
    )
    const server = createHttpsServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_req, res) => res.end(),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    try {
      const err = await errorOf(
        probe(open({ endpoint: `https://127.0.0.1:${port}/${DEV_ACCOUNT}` })),
      )
      expect(err).toMatchObject({ code: 'BadConfig', message: 'TLS certificate not trusted' })
    } finally {
      server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('does not follow a redirect (BadConfig), not even to an allowed host', async () => {
    const server = createHttpServer((req, res) => {
      res
        .writeHead(307, { location: `${az.endpoint}${req.url?.replace(`/${DEV_ACCOUNT}`, '')}` })
        .end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    try {
      const err = await errorOf(
        probe(open({ endpoint: `http://127.0.0.1:${port}/${DEV_ACCOUNT}` })),
      )
      expect(err.code).toBe('BadConfig')
      expect(err.message).toMatch(/redirect/)
    } finally {
      server.close()
    }
  })

  it('asks for exactly one of account key and SAS token (BadConfig)', async () => {
    const none = await errorOf(probe(open({}, {})))
    expect(none).toMatchObject({
      code: 'BadConfig',
      message: 'Give an account key or a SAS token.',
    })
    const both = await errorOf(probe(open({}, { accountKey: DEV_KEY, sasToken: accountSas() })))
    expect(both.code).toBe('BadConfig')
    expect(both.message).toMatch(/either an account key or a SAS token, not both/)
  })

  it('never puts the key or the SAS token into an error message', async () => {
    const sas = accountSas({ key: randomBytes(64).toString('base64') })
    const key = randomBytes(64).toString('base64')
    const port = await closedPort()
    const errors = [
      await errorOf(probe(open({}, { sasToken: sas }))),
      await errorOf(probe(open({}, { accountKey: key }))),
      await errorOf(
        probe(open({ endpoint: `http://127.0.0.1:${port}/${DEV_ACCOUNT}` }, { sasToken: sas })),
      ),
    ]
    const sig = new URLSearchParams(sas).get('sig')!
    for (const err of errors) {
      for (const secret of [sas, sig, encodeURIComponent(sig), key])
        expect(err.message).not.toContain(secret)
    }
  })
})
