import { describe, expect, it } from 'vitest'
import { s3 } from '../../src/drivers/s3/index.ts'
import { partSizeFor } from '../../src/drivers/s3/driver.ts'
import { settings } from '../../src/drivers/s3/settings.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import { ALLOW, MiB, form } from '../support/s3.ts'

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
      note: 'Your bucket: stock restic opens it directly from any computer, with the variables above.',
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
