import { describe, expect, it } from 'vitest'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { recordSnapshot } from '../../src/db/snapshots.ts'
import { markInitialized, repositoryFor, repositoryPassword } from '../../src/db/repositories.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'

describe('recovery kit page', async () => {
  const deps = freshDeps()
  const alice = await addTenant(deps, 'alice')
  await addTenant(deps, 'bob')
  const dest = await saveDestination(
    { ...deps, secretKey: deps.config.secretKey },
    alice.id,
    'local',
    null,
    { name: 'Here', settings: { folder: 'kit' } },
  )
  const repo = await repositoryFor(deps.db, deps.config.secretKey, alice.id, dest.id)
  await markInitialized(deps.db, repo.id)
  const password = repositoryPassword(deps.config.secretKey, repo)
  const c = new Client(deps)
  await c.login('alice')

  it('asks for the account password before showing anything', async () => {
    const page = await c.get('/backups/recovery')
    expect(page.body).toContain('Your account password')
    expect(page.body).not.toContain(password)
    const wrong = await c.post('/backups/recovery', {
      destination: String(dest.id),
      password: 'not my password',
    })
    expect(wrong.status).toBe(401)
    expect(wrong.body).toContain('That is not your password.')
    expect(wrong.body).not.toContain(password)
  })

  it('shows location, password and the stock restic command, uncached', async () => {
    const good = 'a1'.repeat(32)
    const safety = 'b2'.repeat(32)
    await recordSnapshot(deps.db, alice.id, dest.id, {
      id: good,
      time: '2026-12-01T02:30:00Z',
      tags: ['policy:1'],
      paths: ['/home/alice'],
      complete: true,
    })
    await recordSnapshot(deps.db, alice.id, dest.id, {
      id: safety,
      time: '2026-12-02T09:30:00Z',
      tags: ['safety'],
      paths: ['/home/alice'],
      complete: false,
    })
    const res = await c.post('/backups/recovery', {
      destination: String(dest.id),
      password: PASSWORD,
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toContain(password)
    expect(res.body).toContain(`${deps.config.localRoot}/alice/kit`)
    // The newest complete backup by id: stock restic's "latest" would be the safety copy.
    expect(res.body).toContain(`restic restore ${good.slice(0, 8)} --target ./restored`)
    expect(res.body).not.toContain(safety.slice(0, 8))
  })

  it('tells a Local tenant what they can really do, with Copy buttons on password and commands', async () => {
    const res = await c.post('/backups/recovery', {
      destination: String(dest.id),
      password: PASSWORD,
    })
    // The folder is root's: the tenant cannot copy it, so the kit says what works instead.
    expect(res.body).toContain('only the server’s administrator can open')
    expect(res.body).toContain('use Download or Restore on the Restore page')
    expect(res.body).toContain('ask your host for a copy of the folder')
    expect(res.body).not.toContain('copy it anywhere')
    expect(res.body).toContain('data-copy="Copy password"')
    expect(res.body).toContain('data-copy="Copy commands"')
    // The admin's (escrow) kit for the same repository keeps the technical note.
    const kit = await recoveryKit(deps, alice, dest, { forAdmin: true })
    expect(kit.note).toBe(
      'A folder on this server that only root can read; copy it anywhere and point restic at the copy.',
    )
  })

  it('is a 404 for another tenant’s destination', async () => {
    const b = new Client(deps)
    await b.login('bob')
    const res = await b.post('/backups/recovery', {
      destination: String(dest.id),
      password: PASSWORD,
    })
    expect(res.status).toBe(404)
    expect(res.body).not.toContain(password)
  })
})
