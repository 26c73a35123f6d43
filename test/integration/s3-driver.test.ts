import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { classify } from '../../src/drivers/s3/errors.ts'
import { StorageError } from '../../src/drivers/types.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import {
  requireS3rver,
  startRecorder,
  startS3rver,
  type Recorder,
  type S3rverServer,
} from '../services/s3rver.ts'
import { MiB, s3Drivers, slowSource } from '../support/s3.ts'
import { errorOf as storageError, until } from '../support/storage.ts'

describe.runIf(requireS3rver())('S3 driver against s3rver', () => {
  let server: S3rverServer
  const { driverFor, closeAll } = s3Drivers(() => server)
  beforeAll(async () => {
    server = await startS3rver({ buckets: ['backups'] })
  })
  afterAll(async () => {
    await closeAll()
    await server?.stop()
  })

  // Default part size (16 MiB): the suite's 40 MiB object goes up in 3 parts (checked below).
  let suiteRec: Recorder
  beforeAll(async () => {
    suiteRec = await startRecorder(() => server.port)
  })
  afterAll(() => suiteRec?.close())
  driverConformance('s3', async () => {
    const driver = driverFor({ path: 'conformance', endpoint: suiteRec.endpoint })
    return {
      driver,
      async cleanup() {
        for (const key of await keys(driver, '')) await driver.remove(key)
      },
    }
  })

  it('crossed the multipart threshold with the conformance suite’s 40 MiB object', () => {
    const big = suiteRec.requests.filter(
      (r) => r.includes('/conformance/') && r.includes('/big/object?'),
    )
    expect(big.some((r) => /^POST .*\?uploads/.test(r))).toBe(true)
    expect(big.filter((r) => /^PUT .*partNumber=/.test(r))).toHaveLength(3)
    expect(big.some((r) => /^POST .*uploadId=/.test(r))).toBe(true)
  })

  it('stores under <bucket>/<path>/<tenant>/; tenants sharing a bucket never see each other', async () => {
    const alice = driverFor({ path: 'some/path/' }, { tenant: 'alice' })
    const bob = driverFor({ path: 'some/path' }, { tenant: 'bob' })
    await putBytes(alice, 'data/ab/object', 'alice’s')
    await putBytes(bob, 'config', 'bob’s')
    const raw = new S3Client({
      region: 'us-east-1',
      endpoint: `http://${server.endpoint}`,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    })
    const all = await raw.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: 'some/' }))
    expect(all.Contents!.map((o) => o.Key).sort()).toEqual([
      'some/path/alice/data/ab/object',
      'some/path/bob/config',
    ])
    expect(await keys(alice, '')).toEqual(['data/ab/object'])
    expect(await keys(bob, '')).toEqual(['config'])
    expect(await codeOf(bob.stat('data/ab/object'))).toBe('NotFound')
    raw.destroy()
  })

  it('lists past the first page of 1,000 keys', async () => {
    const d = driverFor()
    const names = Array.from({ length: 1005 }, (_, i) => `index/${String(i).padStart(5, '0')}`)
    for (let i = 0; i < names.length; i += 16) {
      await Promise.all(names.slice(i, i + 16).map((k) => putBytes(d, k, k)))
    }
    expect(await keys(d, 'index/')).toEqual(names)
  }, 120_000)

  describe('multipart uploads (through a recording proxy)', () => {
    let rec: Recorder
    beforeAll(async () => {
      rec = await startRecorder(() => server.port)
    })
    afterAll(() => rec.close())

    it('sends an object above the part size in parts, and a smaller one in one PUT', async () => {
      const d = driverFor({ endpoint: rec.endpoint, partSizeMb: '5' }, { tenant: 'parts' })
      const big = randomBytes(12 * MiB)
      rec.requests.length = 0
      await d.put(
        'data/12/big',
        () => Readable.from([big.subarray(0, 7 * MiB), big.subarray(7 * MiB)]),
        { size: big.length },
      )
      const parts = rec.requests.filter((r) => /^PUT .*partNumber=/.test(r))
      expect(
        rec.requests.some((r) => /^POST \/backups\/parts\/data\/12\/big\?uploads/.test(r)),
      ).toBe(true)
      expect(parts).toHaveLength(3)
      expect(rec.requests.some((r) => /^POST .*uploadId=/.test(r))).toBe(true)
      expect(
        createHash('sha256')
          .update(await readAll(await d.get('data/12/big')))
          .digest('hex'),
      ).toBe(createHash('sha256').update(big).digest('hex'))
      rec.requests.length = 0
      await putBytes(d, 'small', randomBytes(5 * MiB))
      expect(rec.requests.filter((r) => r.startsWith('PUT') || r.startsWith('POST'))).toEqual([
        'PUT /backups/parts/small?x-id=PutObject',
      ])
    }, 60_000)

    it('sends the storage class with single and multipart uploads (none for STANDARD)', async () => {
      const classOf = (pattern: RegExp) =>
        rec.seen.find((r) => pattern.test(r.line))?.headers['x-amz-storage-class']
      for (const [storageClass, want] of [
        ['STANDARD_IA', 'STANDARD_IA'],
        ['STANDARD', undefined],
      ] as const) {
        const d = driverFor(
          { endpoint: rec.endpoint, partSizeMb: '5', storageClass },
          { tenant: storageClass.toLowerCase() },
        )
        rec.seen.length = 0
        await putBytes(d, 'one', 'x')
        await putBytes(d, 'many', randomBytes(6 * MiB))
        expect(classOf(/^PUT .*\/one\?x-id=PutObject/)).toBe(want)
        expect(classOf(/^POST .*\/many\?uploads/)).toBe(want)
      }
    })

    it('aborts the multipart upload of a cancelled put, and nothing becomes visible', async () => {
      const d = driverFor({ endpoint: rec.endpoint, partSizeMb: '5' }, { tenant: 'cancel' })
      const ac = new AbortController()
      rec.requests.length = 0
      const put = d.put('data/ca/ncel', () => slowSource((n) => n >= 12 * MiB && ac.abort()), {
        size: 1 << 30,
        signal: ac.signal,
      })
      const err = await storageError(put)
      expect(err).toMatchObject({ code: 'Transient', message: 'the operation was cancelled' })
      expect(
        rec.requests.some((r) => /^DELETE \/backups\/cancel\/data\/ca\/ncel\?uploadId=/.test(r)),
      ).toBe(true)
      expect(rec.requests.some((r) => /^POST .*uploadId=/.test(r))).toBe(false) // never completed
      expect(await codeOf(d.stat('data/ca/ncel'))).toBe('NotFound')
      expect(await keys(d, '')).toEqual([])
    }, 60_000)
  })

  it('a server killed mid-multipart-upload fails the put plainly, and no partial object appears', async () => {
    const own = await startS3rver({ buckets: ['backups'] })
    const rec = await startRecorder(() => own.port)
    try {
      const d = driverFor({ endpoint: rec.endpoint, partSizeMb: '5' }, { tenant: 'killed' })
      await putBytes(d, 'before', 'kept')
      const put = d.put('data/ki/lled', () => slowSource(), { size: 40 * MiB })
      const outcome = put.then(
        () => null,
        (e: unknown) => e,
      )
      // Kill while parts are in flight, holding back any other write so only the upload is cut.
      await until(
        () =>
          own.openUploads('backups') > 0 && rec.inFlight().some((r) => r.includes('partNumber=2')),
      )
      rec.hold()
      await until(
        () => !rec.inFlight().some((r) => /^PUT (?!.*partNumber=)|^POST .*uploadId=/.test(r)),
      )
      await own.kill()
      rec.release()
      const err = (await outcome) as StorageError
      expect(err).toBeInstanceOf(StorageError)
      expect(err.code).toBe('Transient')
      expect([
        `the connection to ${rec.endpoint} was cut off`,
        `connection refused by ${rec.endpoint}`,
      ]).toContain(err.message)
      // While it is down, every call says so in plain words (straight to it, not via the proxy).
      const direct = driverFor({ endpoint: own.endpoint }, { tenant: 'killed' })
      expect(await storageError(direct.stat('before'))).toMatchObject({
        code: 'Transient',
        message: `connection refused by ${own.endpoint}`,
      })
      await own.restart()
      expect(await codeOf(d.stat('data/ki/lled'))).toBe('NotFound')
      expect(await keys(d, '')).toEqual(['before'])
      expect((await readAll(await d.get('before'))).toString()).toBe('kept')
    } finally {
      await rec.close()
      await own.stop()
    }
  }, 120_000)
})

describe('S3 classify (network and TLS errors)', () => {
  const where = { bucket: 'b', host: 'h:9000' }
  const errno = (code: string) => Object.assign(new Error(code), { code })
  it.each([
    ['ECONNREFUSED', 'Transient', 'connection refused by h:9000'],
    ['ECONNRESET', 'Transient', 'the connection to h:9000 was cut off'],
    ['ETIMEDOUT', 'Transient', 'timed out talking to h:9000'],
    ['ENOTFOUND', 'BadConfig', 'the host h:9000 could not be found (DNS lookup failed)'],
    [
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'BadConfig',
      'TLS certificate not trusted (h:9000): give its CA certificate, or check the endpoint',
    ],
    ['CERT_HAS_EXPIRED', 'BadConfig', 'the TLS certificate of h:9000 has expired'],
    [
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'BadConfig',
      'the TLS certificate of h:9000 is for a different host name',
    ],
  ])('%s → %s', (code, want, message) => {
    expect(classify(errno(code), where)).toMatchObject({ code: want, message })
  })
  it('keeps the guard’s words, as BadConfig, for a connection it refused', () => {
    const guarded = Object.assign(
      new StorageError('BadConfig', 'The host “x” resolves to 10.0.0.1…'),
      { code: 'EGUARD' },
    )
    expect(classify(guarded, where)).toMatchObject({
      code: 'BadConfig',
      message: 'The host “x” resolves to 10.0.0.1…',
    })
    expect(classify(Object.assign(new Error('x'), { name: 'TimeoutError' }), where).code).toBe(
      'Transient',
    )
    expect(classify(Object.assign(new Error('x'), { name: 'AbortError' }), where).message).toBe(
      'the operation was cancelled',
    )
  })
})
