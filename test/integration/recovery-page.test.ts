import { describe, expect, it } from 'vitest'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { markInitialized, repositoryFor, repositoryPassword } from '../../src/db/repositories.ts'

describe('recovery kit page', async () => {
  const deps = freshDeps()
  const alice = await addTenant(deps, 'alice')
  await addTenant(deps, 'bob')
  const dest = saveDestination({ ...deps, secretKey: deps.config.secretKey }, alice.id, 'local', null, { name: 'Here', settings: { folder: 'kit' } })
  const repo = repositoryFor(deps.db, deps.config.secretKey, alice.id, dest.id)
  markInitialized(deps.db, repo.id)
  const password = repositoryPassword(deps.config.secretKey, repo)
  const c = new Client(deps)
  await c.login('alice')

  it('asks for the account password before showing anything', async () => {
    const page = await c.get('/backups/recovery')
    expect(page.body).toContain('Your account password')
    expect(page.body).not.toContain(password)
    const wrong = await c.post('/backups/recovery', { destination: String(dest.id), password: 'not my password' })
    expect(wrong.status).toBe(401)
    expect(wrong.body).toContain('That is not your password.')
    expect(wrong.body).not.toContain(password)
  })

  it('shows location, password and the stock restic command, uncached', async () => {
    const res = await c.post('/backups/recovery', { destination: String(dest.id), password: PASSWORD })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toContain(password)
    expect(res.body).toContain(`${deps.config.localRoot}/alice/kit`)
    expect(res.body).toContain('restic restore latest --target ./restored')
  })

  it('is a 404 for another tenant’s destination', async () => {
    const b = new Client(deps)
    await b.login('bob')
    const res = await b.post('/backups/recovery', { destination: String(dest.id), password: PASSWORD })
    expect(res.status).toBe(404)
    expect(res.body).not.toContain(password)
  })
})
