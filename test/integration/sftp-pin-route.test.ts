import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import { requireSshd, startSshd, type SshServer } from '../services/sshd.ts'
import { setAdminSetting } from '../../src/db/settings.ts'
import { getDestination, listDestinations, readSecrets } from '../../src/db/destinations.ts'
import { saveDestination } from '../../src/domain/destinations.ts'

describe.runIf(requireSshd())('SFTP Test connection pins the host key (through the pages)', () => {
  const deps = freshDeps()
  let server: SshServer
  let c: Client
  let tenantId = 0

  beforeAll(async () => {
    server = await startSshd()
    await setAdminSetting(deps.db, 'outboundAllow', ['127.0.0.1'])
    tenantId = (await addTenant(deps, 'alice')).id
    c = new Client(deps)
    await c.login('alice')
  })
  afterAll(() => server?.stop())

  const form = () => ({
    name: 'Storage box',
    's.host': server.host,
    's.port': String(server.port),
    's.path': 'backups',
    's.user': server.user,
    's.password': server.password,
  })

  it('shows the pinned fingerprint after a first Test connection, and saves it with the destination', async () => {
    const test = await c.post('/backups/destinations/new/sftp/test', form(), { htmx: true })
    expect(test.body).toContain('Test passed.')
    expect(test.body).toContain(`value="${server.fingerprint()}"`)
    expect(test.body).not.toContain(server.password)
    const saved = await c.post('/backups/destinations/new/sftp', {
      ...form(),
      's.hostKey': server.fingerprint(),
    })
    expect(saved.status).toBe(303)
    expect((await listDestinations(deps.db, tenantId))[0]!.settings.hostKey).toBe(
      server.fingerprint(),
    )
  })

  it('pins a saved destination’s host key in its stored settings, leaving the rest as stored', async () => {
    const deps_ = { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers }
    const saved = await saveDestination(deps_, tenantId, 'sftp', null, {
      name: 'Unpinned',
      settings: {
        host: server.host,
        port: String(server.port),
        path: 'stored-path',
        user: server.user,
        password: server.password,
      },
    })
    expect(saved.settings.hostKey).toBe('')
    // What the form holds is tested, not saved: only the pin is stored.
    const res = await c.post(
      `/backups/destinations/${saved.id}/test`,
      { ...form(), name: 'Unpinned', 's.password': '' },
      { htmx: true },
    )
    expect(res.body).toContain('Test passed.')
    const after = await getDestination(deps.db, tenantId, saved.id)
    expect(after.settings).toEqual({ ...saved.settings, hostKey: server.fingerprint() })
    expect(readSecrets(deps.config.secretKey, tenantId, after)).toEqual({
      password: server.password,
    })
  })

  it('refuses when the server’s host key changes, in plain words', async () => {
    const dest = (await listDestinations(deps.db, tenantId)).find((d) => d.name === 'Storage box')
    const pinned = server.fingerprint()
    await server.restart({ newHostKey: true })
    const res = await c.post(
      `/backups/destinations/${dest!.id}/test`,
      { ...form(), 's.password': '', 's.hostKey': pinned },
      { htmx: true },
    )
    expect(res.body).toContain('Test failed.')
    expect(res.body).toContain('host key changed')
  })
})
