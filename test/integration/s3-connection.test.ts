import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { s3 } from '../../src/drivers/s3/index.ts'
import { settings } from '../../src/drivers/s3/settings.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import { probe } from '../../src/drivers/probe.ts'
import { keys, putBytes } from '../drivers/suite.ts'
import { requireS3rver, startRecorder, startS3rver, type S3rverServer } from '../services/s3rver.ts'
import { ALLOW, form, s3Drivers } from '../support/s3.ts'
import { closedPort, errorOf as storageError } from '../support/storage.ts'

describe.runIf(requireS3rver())('S3 Test connection against s3rver', () => {
  let server: S3rverServer
  const { driverFor, closeAll } = s3Drivers(() => server)
  beforeAll(async () => {
    server = await startS3rver({ buckets: ['backups'] })
  })
  afterAll(async () => {
    await closeAll()
    await server?.stop()
  })

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
    [503, 'SlowDown', 'Transient', '127.0.0.1:PORT asked us to slow down or retry (SlowDown)', 1],
    [
      500,
      'InternalError',
      'Transient',
      'the storage server is busy or failing (HTTP 500); will retry',
      1,
    ],
    [
      429,
      'TooManyRequests',
      'Transient',
      'the storage server is busy or failing (HTTP 429); will retry',
      1,
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
    // A put streams its body, which the SDK cannot re-send: withRetry (or restic) retries it.
    expect(hits).toBe(tries)
    await d.close?.()
  })
})
