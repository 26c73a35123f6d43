import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { s3 } from '../../src/drivers/s3/index.ts'
import { classify } from '../../src/drivers/s3/errors.ts'
import { partSizeFor } from '../../src/drivers/s3/driver.ts'
import { settings } from '../../src/drivers/s3/settings.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import { probe } from '../../src/drivers/probe.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import type { DriverEntry } from '../../src/drivers/registry.ts'
import { StorageError, type Driver } from '../../src/drivers/types.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import {
  requireS3rver,
  startRecorder,
  startS3rver,
  type Recorder,
  type S3rverServer,
} from '../services/s3rver.ts'

const ALLOW: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }
const MiB = 1 << 20
const entry: DriverEntry = s3 // the registry's contract, checked by the compiler

/** Settings as the panel parses them from form text (checkboxes as 'on'). */
function form(raw: Record<string, string>) {
  const parsed = parseSettings(settings, {
    region: 'us-east-1',
    endpointProtocol: 'http',
    pathStyle: 'on',
    partLimit: '10000',
    storageClass: 'STANDARD',
    ...raw,
  })
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  return parsed
}

function tenantName() {
  return `t${randomBytes(4).toString('hex')}`
}

/** Runs `p` and returns its StorageError (failing when it resolves or throws something else). */
async function storageError(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => expect.fail('expected a StorageError'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StorageError)
  return err as StorageError
}

async function closedPort(): Promise<number> {
  const srv = createTcpServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise((resolve) => srv.close(resolve))
  return port
}

async function until(cond: () => boolean, ms = 30_000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Endless 256 KiB chunks, a little slowly, so a test can act mid-upload. */
function slowSource(onChunk: (bytes: number) => void = () => {}) {
  return Readable.from(
    (async function* () {
      for (let sent = 0; ;) {
        const chunk = randomBytes(256 * 1024)
        sent += chunk.length
        yield chunk
        onChunk(sent)
        await new Promise((r) => setTimeout(r, 2))
      }
    })(),
  )
}

describe.runIf(requireS3rver())('S3 driver against s3rver', () => {
  let server: S3rverServer
  const opened: Driver[] = []
  beforeAll(async () => {
    server = await startS3rver({ buckets: ['backups'] })
  })
  afterAll(async () => {
    await Promise.all(opened.map((d) => d.close?.()))
    await server?.stop()
  })

  function driverFor(
    raw: Record<string, string> = {},
    opts: { tenant?: string; guard?: GuardPolicy } = {},
  ) {
    const { settings: values, secrets } = form({
      bucket: 'backups',
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      ...raw,
    })
    const d = entry.open(values, secrets, {
      tenantName: opts.tenant ?? tenantName(),
      localRoot: '/nonexistent',
      guard: opts.guard ?? ALLOW,
    })
    opened.push(d)
    return d
  }

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

  describe('Test connection (probe) and its failures in plain words', () => {
    it('succeeds against a working bucket and leaves nothing behind', async () => {
      const d = driverFor()
      expect(await probe(d)).toMatch(/^Connected/)
      expect(await keys(d, '')).toEqual([])
    })

    it.each([
      [
        'an unknown access key',
        { accessKeyId: 'NOT-A-KEY' },
        'AuthFailed',
        'bad credentials: the access key was refused',
      ],
      [
        'a missing bucket',
        { bucket: 'no-such-bucket' },
        'BadConfig',
        'bucket “no-such-bucket” does not exist',
      ],
      [
        'a host that does not exist',
        { endpoint: 'no-such-host.invalid' },
        'BadConfig',
        'The host “no-such-host.invalid” could not be found (DNS lookup failed).',
      ],
      [
        'insecure TLS on http',
        { insecureTls: 'on' },
        'BadConfig',
        'Skipping TLS verification only applies to https endpoints: turn it off or choose https.',
      ],
      [
        'no secret key',
        { secretAccessKey: '' },
        'BadConfig',
        'Enter both the access key ID and the secret access key.',
      ],
    ])('refuses %s', async (_, raw, code, message) => {
      expect(await storageError(probe(driverFor(raw)))).toMatchObject({ code, message })
    })

    it('says the connection was refused by host:port for a closed port', async () => {
      const port = await closedPort()
      const err = await storageError(probe(driverFor({ endpoint: `127.0.0.1:${port}` })))
      expect(err).toMatchObject({
        code: 'Transient',
        message: `connection refused by 127.0.0.1:${port}`,
      })
    })

    it('says so when an https endpoint speaks plain http', async () => {
      const err = await storageError(probe(driverFor({ endpointProtocol: 'https' })))
      expect(err).toMatchObject({
        code: 'BadConfig',
        message: `127.0.0.1:${server.port} did not answer with TLS: is the endpoint protocol http?`,
      })
    })

    it('refuses loopback without an allowlist, by address or by name, making no connection', async () => {
      const rec = await startRecorder(() => server.port)
      try {
        for (const endpoint of [
          rec.endpoint,
          `localhost:${rec.port}`,
          `[::ffff:127.0.0.1]:${rec.port}`,
        ]) {
          const err = await storageError(probe(driverFor({ endpoint }, { guard: { allow: [] } })))
          expect(err.code).toBe('BadConfig')
          expect(err.message).toMatch(/resolves to \S+, a private, loopback or metadata address/)
        }
        expect(rec.connections).toBe(0)
        expect(await probe(driverFor({ endpoint: rec.endpoint }))).toMatch(/^Connected/) // allowlisted: fine
      } finally {
        await rec.close()
      }
    })
  })

  describe('IAM role endpoint', () => {
    let imds: Server
    let imdsPort = 0
    const seen: string[] = []
    beforeAll(async () => {
      const creds = JSON.stringify({
        AccessKeyId: server.accessKeyId,
        SecretAccessKey: server.secretAccessKey,
        Token: 'session',
        Expiration: new Date(Date.now() + 3600_000).toISOString(),
      })
      imds = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`)
        const token = req.headers['x-aws-ec2-metadata-token'] === 'tok'
        if (req.method === 'PUT' && req.url === '/latest/api/token') return res.end('tok')
        if (token && req.url === '/latest/meta-data/iam/security-credentials/')
          return res.end('backup-role\n')
        if (
          (token && req.url === '/latest/meta-data/iam/security-credentials/backup-role') ||
          req.url === '/v2/credentials/abc'
        )
          return res.end(creds)
        res.statusCode = 404
        res.end()
      })
      await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', resolve))
      imdsPort = (imds.address() as AddressInfo).port
    })
    afterAll(() => new Promise<void>((resolve) => imds.close(() => resolve())))
    afterEach(() => {
      delete process.env.PANEL_ALLOW_IAM_ENDPOINT
    })
    const iam = (endpoint: string) => ({
      iamRoleEndpoint: endpoint,
      accessKeyId: '',
      secretAccessKey: '',
    })

    it('is refused, in the form and at use, unless the administrator enabled it', async () => {
      const problem =
        'IAM role endpoints are turned off on this server: use an access key, or ask your administrator.'
      expect(
        parseSettings(settings, { bucket: 'backups', iamRoleEndpoint: 'http://169.254.169.254' }),
      ).toEqual({ ok: false, errors: { iamRoleEndpoint: problem } })
      process.env.PANEL_ALLOW_IAM_ENDPOINT = '1'
      const d = driverFor(iam(`http://127.0.0.1:${imdsPort}`))
      delete process.env.PANEL_ALLOW_IAM_ENDPOINT
      expect(await storageError(probe(d))).toMatchObject({ code: 'BadConfig', message: problem })
    })

    it('signs with instance (IMDSv2) or container credentials when enabled', async () => {
      process.env.PANEL_ALLOW_IAM_ENDPOINT = '1'
      seen.length = 0
      expect(await probe(driverFor(iam(`http://127.0.0.1:${imdsPort}`)))).toMatch(/^Connected/)
      expect(seen).toEqual([
        'PUT /latest/api/token',
        'GET /latest/meta-data/iam/security-credentials/',
        'GET /latest/meta-data/iam/security-credentials/backup-role',
      ]) // fetched once, then cached until near expiry
      expect(
        await probe(driverFor(iam(`http://127.0.0.1:${imdsPort}/v2/credentials/abc`))),
      ).toMatch(/^Connected/)
    })

    it('goes through the guard: the metadata address is refused unless allowlisted', async () => {
      process.env.PANEL_ALLOW_IAM_ENDPOINT = '1'
      const err = await storageError(probe(driverFor(iam('http://169.254.169.254'))))
      expect(err.code).toBe('BadConfig')
      expect(err.message).toMatch(/169\.254\.169\.254, a private, loopback or metadata address/)
      const missing = await storageError(
        probe(driverFor(iam(`http://127.0.0.1:${imdsPort}/v2/credentials/nope`))),
      )
      expect(missing).toMatchObject({
        code: 'BadConfig',
        message: 'IAM role endpoint: no credentials at that address (HTTP 404)',
      })
    })
  })

  describe('TLS: self-signed certificate, CA certificate, insecure', () => {
    let tls: S3rverServer
    beforeAll(async () => {
      tls = await startS3rver({ buckets: ['backups'], tls: true })
    })
    afterAll(() => tls?.stop())
    const over = (raw: Record<string, string>) =>
      driverFor({ endpoint: `localhost:${tls.port}`, endpointProtocol: 'https', ...raw })

    it('refuses an untrusted certificate in plain words', async () => {
      const err = await storageError(probe(over({})))
      expect(err).toMatchObject({
        code: 'BadConfig',
        message: `TLS certificate not trusted (localhost:${tls.port}): give its CA certificate, or check the endpoint`,
      })
    })

    it('trusts a CA certificate given as PEM text or as a file path', async () => {
      expect(await probe(over({ caCert: tls.cert!.pem }))).toMatch(/^Connected/)
      expect(await probe(over({ caCert: tls.cert!.path }))).toMatch(/^Connected/)
    })

    it('says plainly when the CA file cannot be used, whatever the reason', async () => {
      for (const path of ['/nonexistent/ca.pem', '/etc/passwd', '/dev/zero']) {
        const err = await storageError(probe(over({ caCert: path })))
        expect(err).toMatchObject({
          code: 'BadConfig',
          message: `the CA certificate file ${path} could not be read as a PEM certificate`,
        })
      }
    })

    it('connects without verification only when asked to', async () => {
      expect(await probe(over({ insecureTls: 'on' }))).toMatch(/^Connected/)
    })
  })
})

describe('S3 errors a server answers, in plain words', () => {
  let fake: Server
  let port = 0
  let answer = { status: 500, code: 'InternalError' }
  let hits = 0
  beforeAll(async () => {
    fake = createServer((req, res) => {
      hits++
      req.resume()
      res.writeHead(answer.status, { 'content-type': 'application/xml' })
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${answer.code}</Code><Message>x</Message><Region>eu-west-3</Region></Error>`,
      )
    })
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
    port = (fake.address() as AddressInfo).port
  })
  afterAll(() => new Promise<void>((resolve) => fake.close(() => resolve())))

  it.each([
    [
      403,
      'SignatureDoesNotMatch',
      'AuthFailed',
      'bad credentials: the secret key does not match the access key',
      1,
    ],
    [
      403,
      'AccessDenied',
      'AuthFailed',
      'access denied: these credentials may not use bucket “backups”',
      1,
    ],
    [404, 'NoSuchBucket', 'BadConfig', 'bucket “backups” does not exist', 1],
    [
      400,
      'InvalidStorageClass',
      'BadConfig',
      'the storage server does not offer the chosen storage class',
      1,
    ],
    [
      301,
      'PermanentRedirect',
      'BadConfig',
      'bucket “backups” is in another region (eu-west-3): set Region to match',
      1,
    ],
    [
      507,
      'XMinioStorageFull',
      'NoSpace',
      'the storage server is out of space (its disk or your quota is full)',
      1,
    ],
    [
      403,
      'QuotaExceeded',
      'NoSpace',
      'the storage server is out of space (its disk or your quota is full)',
      1,
    ],
    [503, 'SlowDown', 'Transient', '127.0.0.1:PORT asked us to slow down or retry (SlowDown)', 2],
    [
      500,
      'InternalError',
      'Transient',
      'the storage server is busy or failing (HTTP 500); will retry',
      2,
    ],
    [
      429,
      'TooManyRequests',
      'Transient',
      'the storage server is busy or failing (HTTP 429); will retry',
      2,
    ],
  ])('HTTP %i %s → %s', async (status, code, want, message, tries) => {
    answer = { status, code }
    hits = 0
    const { settings: values, secrets } = form({
      bucket: 'backups',
      endpoint: `127.0.0.1:${port}`,
      accessKeyId: 'AKIA',
      secretAccessKey: 'TOP-SECRET-VALUE',
    })
    const d = s3.open(values, secrets, { tenantName: 'x', localRoot: '/', guard: ALLOW })
    const err = await storageError(putBytes(d, 'k', 'v'))
    expect(err).toMatchObject({ code: want, message: message.replace('PORT', String(port)) })
    expect(err.message).not.toContain('TOP-SECRET-VALUE')
    expect(hits).toBe(tries) // the SDK tries a request at most twice; withRetry does the rest
    await d.close?.()
  })
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

describe('S3 settings', () => {
  const errors = (raw: Record<string, string>) => {
    const parsed = parseSettings(settings, { bucket: 'backups', ...raw })
    return parsed.ok ? {} : parsed.errors
  }

  it('refuses a path with a leading slash, saying how to write it', () => {
    expect(errors({ path: '/my/backup' }).path).toBe(
      'The path must not start with a slash: write my/backup/location, not /my/backup/location.',
    )
    expect(errors({ path: 'a/../b' }).path).toMatch(/no \/\/ or \.\./)
    expect(errors({ path: 'my/backup/location/' })).toEqual({})
  })

  it('takes the endpoint as host[:port], without a protocol or path', () => {
    expect(errors({ endpoint: 'https://s3.example.com' }).endpoint).toMatch(
      /Leave out “https:\/\/”/,
    )
    expect(errors({ endpoint: 's3.example.com/bucket' }).endpoint).toMatch(/only a host name/)
    for (const ok of ['s3.example.com', 'minio.lan:9000', '10.0.0.5:80', '[::1]:9000'])
      expect(errors({ endpoint: ok })).toEqual({})
  })

  it('checks the bucket name, the CA certificate and the part size', () => {
    expect(errors({ bucket: 'ab' }).bucket).toMatch(/3 to 63/)
    expect(errors({ caCert: 'ca.pem' }).caCert).toMatch(/absolute path/)
    expect(errors({ caCert: '-----BEGIN CERTIFICATE-----\nabc' }).caCert).toMatch(
      /whole certificate/,
    )
    expect(errors({ partSizeMb: '4' }).partSizeMb).toBe('Part size (MB) must be at least 5.')
  })

  it('accepts GLACIER and DEEP_ARCHIVE but warns in the help and the choice labels', () => {
    const field = settings.find((f) => f.name === 'storageClass')!
    expect(errors({ storageClass: 'GLACIER' })).toEqual({})
    expect(errors({ storageClass: 'DEEP_ARCHIVE' })).toEqual({})
    expect(field.help).toMatch(/GLACIER and DEEP_ARCHIVE are not directly restorable/)
    expect(
      field.choices.filter((c) => /not directly restorable/.test(c.label)).map((c) => c.value),
    ).toEqual(['GLACIER', 'DEEP_ARCHIVE'])
  })

  it('keeps the secret key secret and defaults like the seed', () => {
    const byName = Object.fromEntries(
      settings.map((f) => [f.name, f as { type: string; default?: unknown }]),
    )
    expect(byName.secretAccessKey!.type).toBe('secret')
    expect(byName.endpointProtocol!.default).toBe('https')
    expect(byName.region!.default).toBe('us-east-1')
    expect(byName.pathStyle!.default).toBe(true)
  })

  it('chooses the part size from the object size and the provider’s part limit', () => {
    expect(partSizeFor(40 * MiB, null, 10_000)).toBe(16 * MiB)
    expect(partSizeFor(40 * MiB, 5, 10_000)).toBe(5 * MiB)
    expect(partSizeFor(100 * 1024 * MiB, 5, 10_000)).toBe(11 * MiB) // 102,400 MiB / 10,000 parts
    expect(partSizeFor(100 * 1024 * MiB, null, 1_000)).toBe(103 * MiB) // Scaleway's 1,000 parts
  })

  it('gives stock restic the same prefix, with credentials in the environment', () => {
    const { settings: values, secrets } = form({
      bucket: 'backups',
      path: 'panel/',
      endpoint: 'minio.lan:9000',
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
      region: 'eu-1',
    })
    const ctx = { tenantName: 'alice', localRoot: '/', guard: ALLOW }
    expect(s3.repository(values, secrets, ctx)).toEqual({
      repository: 's3:http://minio.lan:9000/backups/panel/alice',
      env: { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_DEFAULT_REGION: 'eu-1' },
      note: undefined,
    })
    const aws = form({
      bucket: 'backups',
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
      endpointProtocol: 'https',
      endpoint: '',
    })
    expect(s3.repository(aws.settings, aws.secrets, ctx).repository).toBe(
      's3:https://s3.amazonaws.com/backups/alice',
    )
    const odd = form({
      bucket: 'backups',
      endpoint: 's3.example.com',
      endpointProtocol: 'https',
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
      insecureTls: 'on',
      caCert: '/etc/ssl/private-ca.pem',
      storageClass: 'GLACIER',
    })
    const note = s3.repository(odd.settings, odd.secrets, ctx).note!
    expect(note).toMatch(/--insecure-tls/)
    expect(note).toMatch(/--cacert \/etc\/ssl\/private-ca\.pem/)
    expect(note).toMatch(/GLACIER: restore \(thaw\)/)
  })
})
