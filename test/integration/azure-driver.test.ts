import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inspect } from 'node:util'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { azure } from '../../src/drivers/azure/index.ts'
import { classify } from '../../src/drivers/azure/errors.ts'
import { BLOCK_SIZE } from '../../src/drivers/azure/upload.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import {
  DEV_ACCOUNT,
  DEV_KEY,
  requireAzurite,
  startAzurite,
  type AzuriteServer,
} from '../services/azurite.ts'
import { CONTAINER, LOOPBACK, azureDrivers } from '../support/azure.ts'

describe.runIf(requireAzurite())('Azure Blob driver (Azurite)', () => {
  let az: AzuriteServer
  const { open, fresh, closeAll } = azureDrivers(() => az)
  beforeAll(async () => {
    az = await startAzurite()
    await az.createContainer(CONTAINER)
  }, 60_000)
  afterAll(async () => {
    await closeAll()
    await az?.stop()
  })

  driverConformance('azure', async () => {
    const path = fresh('conformance')
    const driver = azure.open(
      { accountName: DEV_ACCOUNT, container: CONTAINER, path, endpoint: az.endpoint },
      { accountKey: DEV_KEY },
      { tenantName: 'alice', localRoot: '/nonexistent', guard: LOOPBACK },
    )
    return {
      driver,
      async cleanup() {
        await driver.close?.()
        const container = az.service.getContainerClient(CONTAINER)
        for await (const blob of container.listBlobsFlat({ prefix: `${path}/` }))
          await container.deleteBlob(blob.name)
      },
    }
  })

  describe('uploads', () => {
    it('leaves no blob when a multi-block upload fails half-way, and keeps the old one on overwrite', async () => {
      const d = open()
      await putBytes(d, 'data/ab/pack', 'old')
      const failing = () =>
        Readable.from(
          (async function* () {
            for (let i = 0; i < 12; i++) yield Buffer.alloc(1 << 20, i) // 12 MiB: one block staged
            throw new Error('the client went away')
          })(),
        )
      expect(BLOCK_SIZE).toBeLessThan(12 << 20)
      expect(await codeOf(d.put('data/ab/pack', failing, { size: 30 << 20 }))).toBe('Transient')
      expect(await codeOf(d.put('data/cd/new', failing, { size: 30 << 20 }))).toBe('Transient')
      expect((await readAll(await d.get('data/ab/pack'))).toString()).toBe('old')
      expect(await keys(d, '')).toEqual(['data/ab/pack'])
      expect(await codeOf(d.stat('data/cd/new'))).toBe('NotFound')
    })

    it('uploads a block-sized object in one piece and a larger one in blocks, byte for byte', async () => {
      const d = open()
      for (const size of [BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE]) {
        const data = randomBytes(size)
        await putBytes(d, `obj-${size}`, data)
        expect((await readAll(await d.get(`obj-${size}`))).equals(data)).toBe(true)
        expect(await d.stat(`obj-${size}`)).toEqual({ key: `obj-${size}`, size })
      }
    }, 60_000)
  })
})

describe('Azure classify', () => {
  const rest = (statusCode: number, errorCode?: string) =>
    Object.assign(new Error('RestError'), {
      name: 'RestError',
      statusCode,
      code: errorCode,
      details: { errorCode },
    })
  const net = (code: string) =>
    Object.assign(new Error(`connect ${code}`), {
      name: 'RestError',
      code,
      request: { url: 'https://acct.blob.core.windows.net/c/x?sig=SECRET' },
    })
  it.each([
    [
      rest(403, 'AuthenticationFailed'),
      'AuthFailed',
      'bad credentials: the account key was refused',
    ],
    [rest(404, 'ContainerNotFound'), 'BadConfig', 'container “box” does not exist'],
    [rest(404, 'BlobNotFound'), 'NotFound', 'the object does not exist'],
    [rest(404), 'NotFound', 'the object does not exist'],
    [rest(503, 'ServerBusy'), 'Transient', 'Azure is busy (too many requests); try again later'],
    [rest(429), 'Transient', 'Azure is busy (too many requests); try again later'],
    [rest(507), 'NoSpace', 'the storage server is out of space'],
    [rest(500, 'InternalError'), 'Transient', 'Azure had a server error (HTTP 500 InternalError)'],
    [net('ECONNREFUSED'), 'Transient', 'connection refused by acct.blob.core.windows.net'],
    [net('ETIMEDOUT'), 'Transient', 'timed out'],
    [net('ECONNRESET'), 'Transient', 'the connection to acct.blob.core.windows.net was dropped'],
    [net('CERT_HAS_EXPIRED'), 'BadConfig', 'TLS certificate not trusted'],
    [net('DEPTH_ZERO_SELF_SIGNED_CERT'), 'BadConfig', 'TLS certificate not trusted'],
  ])('%s → %s', (err, code, message) => {
    expect(classify(err, { container: 'box', auth: 'key' })).toMatchObject({ code, message })
  })

  it('keeps a scrubbed cause: no SAS signature, no request', () => {
    const err = Object.assign(
      new Error('Signature did not match: https://a.blob.core.windows.net/c?sv=1&sig=SECRET\nmore'),
      {
        name: 'RestError',
        statusCode: 403,
        code: 'AuthenticationFailed',
        request: {
          url: 'https://a.blob.core.windows.net/c?sv=1&sig=SECRET',
          headers: { authorization: 'SECRET' },
        },
      },
    )
    const classified = classify(err, { auth: 'sas' })
    expect(classified.message).toBe('bad credentials: the SAS token was refused')
    expect(inspect(classified, { depth: 5 })).not.toContain('SECRET')
    expect(classified.cause).toMatchObject({ statusCode: 403, code: 'AuthenticationFailed' })
  })
})
