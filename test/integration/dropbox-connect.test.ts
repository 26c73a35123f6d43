import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import { startDropboxFake, type DropboxFake } from '../services/dropbox-fake.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { getDestination, readSecrets } from '../../src/db/destinations.ts'
import { setAdminSetting } from '../../src/db/settings.ts'

describe('Connect Dropbox on the destination page (against the loopback fake)', () => {
  let fake: DropboxFake
  const deps = freshDeps()
  let c: Client
  let destId = 0
  let tenantId = 0

  beforeAll(async () => {
    fake = await startDropboxFake()
    process.env.PANEL_DROPBOX_API_BASE = fake.url
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1', 'localhost'])
    tenantId = (await addTenant(deps, 'alice')).id
    const dest = await saveDestination(
      { ...deps, secretKey: deps.config.secretKey },
      tenantId,
      'dropbox',
      null,
      {
        name: 'My Dropbox',
        settings: { appKey: fake.appKey, appSecret: fake.appSecret, remotePath: '/backups' },
      },
    )
    destId = dest.id
    c = new Client(deps)
    await c.login('alice')
  })
  afterAll(async () => {
    delete process.env.PANEL_DROPBOX_API_BASE
    await fake?.close()
  })

  it('shows “Not connected” and a Test connection that says so plainly', async () => {
    const page = await c.get(`/backups/destinations/${destId}`)
    expect(page.body).toContain('Not connected')
    const test = await c.post(`/backups/destinations/${destId}/test`, {
      name: 'My Dropbox',
      's.appKey': fake.appKey,
      's.remotePath': '/backups',
    })
    expect(test.body).toContain('Dropbox is not connected yet: press Connect Dropbox to sign in.')
  })

  it('runs the code flow: authorize link, pasted code, refresh token stored sealed', async () => {
    const start = await c.post(`/backups/destinations/${destId}/dropbox/start`, {})
    const url = start.body.match(/href="([^"]*oauth2\/authorize[^"]*)"/)![1]!.replace(/&amp;/g, '&')
    expect(url).toContain('token_access_type=offline')
    expect(url).toContain('code_challenge=')
    const page = await (await fetch(url)).text()
    const code = /value="([^"]+)"/.exec(page)![1]!
    const bad = await c.post(`/backups/destinations/${destId}/dropbox/finish`, {
      code: 'not-a-code',
    })
    expect(bad.status).toBe(422)
    expect(bad.body).toContain('Dropbox refused the code')
    const done = await c.post(`/backups/destinations/${destId}/dropbox/finish`, { code })
    expect(done.location).toBe(`/backups/destinations/${destId}`)
    const after = await c.get(`/backups/destinations/${destId}`)
    expect(after.body).toContain('Dropbox connected.')
    expect(after.body).toMatch(/badge-ok">Connected/)
    const secrets = readSecrets(
      deps.config.secretKey,
      tenantId,
      await getDestination(deps.db, tenantId, destId),
    )
    expect(fake.issued).toContain(secrets.refreshToken)
    expect(secrets.appSecret).toBe(fake.appSecret)
    expect(after.body).not.toContain(secrets.refreshToken!)
    const test = await c.post(`/backups/destinations/${destId}/test`, {
      name: 'My Dropbox',
      's.appKey': fake.appKey,
      's.remotePath': '/backups',
    })
    expect(test.body).toContain('Test passed.')
  })

  it('refuses a finish without a started sign-in in this browser', async () => {
    const other = new Client(deps)
    await other.login('alice')
    const res = await other.post(`/backups/destinations/${destId}/dropbox/finish`, { code: 'x' })
    expect(res.body).toContain('Press Connect Dropbox again')
  })
})
