import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listDestinations } from '../../src/db/destinations.ts'
import { setAdminSetting } from '../../src/db/settings.ts'
import { settings as s3Settings } from '../../src/drivers/s3/settings.ts'
import { warningsOf } from '../../src/drivers/spec.ts'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import { requireS3rver, startS3rver, type S3rverServer } from '../services/s3rver.ts'

/**
 * Archive storage classes (GLACIER, DEEP_ARCHIVE) are accepted but warned about: beside the
 * field, with Test connection and in the destination list. GLACIER_IR is readable at once.
 */
describe.runIf(requireS3rver())('S3 archive storage classes warn without blocking', () => {
  const deps = freshDeps()
  let s3: S3rverServer
  let tenantId = 0
  const c = new Client(deps)
  const form = (name: string, storageClass: string) => ({
    name,
    's.bucket': 'warm-backups',
    's.accessKeyId': s3.accessKeyId,
    's.secretAccessKey': s3.secretAccessKey,
    's.endpoint': s3.endpoint,
    's.endpointProtocol': 'http',
    's.storageClass': storageClass,
    's.region': 'us-east-1',
    's.partLimit': '10000',
    's.pathStyle': 'on',
  })

  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ['warm-backups'] })
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1'])
    tenantId = (await addTenant(deps, 'alice')).id
    await c.login('alice')
  })
  afterAll(async () => {
    await s3?.stop()
  })

  it('Test connection with GLACIER passes and says snapshots are not directly restorable', async () => {
    for (const htmx of [false, true]) {
      const res = await c.post('/backups/destinations/new/s3/test', form('Cold', 'GLACIER'), {
        htmx,
      })
      expect(res.status).toBe(200)
      expect(res.body).toContain('Test passed.')
      expect(res.body).toContain('id="f-s-storageClass-warning"')
      expect(res.body).toMatch(
        /id="test-warnings"[^>]*>[\s\S]*Snapshots stored as GLACIER are not directly restorable/,
      )
      expect(res.body).toContain('restored (thawed) at the provider first')
    }
    expect(await listDestinations(deps.db, tenantId)).toEqual([])
  })

  it('saves DEEP_ARCHIVE, and the list and the edit page carry the warning', async () => {
    const res = await c.post('/backups/destinations/new/s3', form('Deep', 'DEEP_ARCHIVE'))
    expect(res.status).toBe(303)
    expect(res.location).toBe('/backups/destinations')
    const [saved] = await listDestinations(deps.db, tenantId)
    expect(saved).toMatchObject({
      name: 'Deep',
      type: 's3',
      settings: { storageClass: 'DEEP_ARCHIVE' },
    })
    const list = await c.get('/backups/destinations')
    expect(list.body).toContain('Destination “Deep” added.')
    expect(list.body).toMatch(
      /id="destination-\d+"[\s\S]*Snapshots stored as DEEP_ARCHIVE are not directly restorable/,
    )
    const edit = await c.get(`/backups/destinations/${saved!.id}`)
    expect(edit.body).toMatch(/id="f-s-storageClass-warning"[^>]*>Snapshots stored as DEEP_ARCHIVE/)
    expect(edit.body).toContain('aria-describedby="f-s-storageClass-warning"')
  })

  it('says nothing for classes readable at once', async () => {
    // s3rver has no GLACIER_IR; the spec's rule is asked directly for it.
    expect(warningsOf(s3Settings, { storageClass: 'GLACIER_IR' })).toEqual({})
    for (const cls of ['STANDARD', 'STANDARD_IA']) {
      const test = await c.post('/backups/destinations/new/s3/test', form(`Warm ${cls}`, cls))
      expect(test.body).toContain('Test passed.')
      expect(test.body).not.toContain('not directly restorable:')
      expect(test.body).not.toContain('id="test-warnings"')
      expect((await c.post('/backups/destinations/new/s3', form(`Warm ${cls}`, cls))).status).toBe(
        303,
      )
    }
    const list = await c.get('/backups/destinations')
    expect(list.body.match(/class="field-warning"/g)).toHaveLength(1)
  })
})
