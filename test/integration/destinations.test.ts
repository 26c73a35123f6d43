import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { isPostgres, rows } from '../../src/db/dialect.ts'
import { readFileSync } from 'node:fs'
import { listDestinations, readSecrets } from '../../src/db/destinations.ts'
import { listPolicies } from '../../src/db/policies.ts'
import { drivers, type Registry } from '../../src/drivers/registry.ts'
import type { Spec } from '../../src/drivers/spec.ts'
import { Client, addTenant, freshDeps } from '../helpers.ts'

describe('Local destinations through the pages', async () => {
  const deps = freshDeps()
  const alice = await addTenant(deps, 'alice')
  const c = new Client(deps)
  await c.login('alice')

  it('offers the Local type and its generated form', async () => {
    expect((await c.get('/backups/destinations/new')).body).toContain(
      'href="/backups/destinations/new/local"',
    )
    const form = await c.get('/backups/destinations/new/local')
    expect(form.body).toContain('name="s.folder"')
    expect(form.body).toContain('value="backups"')
  })

  it('shows errors beside the fields and keeps what was typed', async () => {
    const res = await c.post('/backups/destinations/new/local', {
      name: '',
      's.folder': '../../etc',
    })
    expect(res.status).toBe(422)
    expect(res.body).toContain('id="f-name-error"')
    expect(res.body).toContain('Name is required.')
    expect(res.body).toContain('id="f-s-folder-error"')
    expect(res.body).toContain('value="../../etc"')
    const frag = await c.post(
      '/backups/destinations/new/local',
      { name: 'X', 's.folder': '' },
      { htmx: true },
    )
    expect(frag.status).toBe(422)
    expect(frag.body).not.toContain('<html')
    expect(frag.body).toContain('Folder is required.')
    expect(await listDestinations(deps.db, alice.id)).toEqual([])
  })

  it('adds, lists, edits and deletes', async () => {
    expect(
      (
        await c.post('/backups/destinations/new/local', {
          name: 'On this server',
          's.folder': 'nightly',
        })
      ).location,
    ).toBe('/backups/destinations')
    const list = await c.get('/backups/destinations')
    expect(list.body).toContain('Destination “On this server” added.')
    expect(list.body).toContain('Folder: nightly')
    const [dest] = await listDestinations(deps.db, alice.id)
    expect(
      (await c.post('/backups/destinations/new/local', { name: 'On this server', 's.folder': 'x' }))
        .body,
    ).toContain('You already have a destination named')
    await c.post(`/backups/destinations/${dest!.id}`, { name: 'Renamed', 's.folder': 'weekly' })
    expect((await listDestinations(deps.db, alice.id))[0]).toMatchObject({
      name: 'Renamed',
      settings: { folder: 'weekly' },
    })
    await c.post(`/backups/destinations/${dest!.id}/delete`, { confirm: 'yes' })
    expect(await listDestinations(deps.db, alice.id)).toEqual([])
  })

  it('refuses to delete a destination a policy uses, and says which', async () => {
    await c.post('/backups/destinations/new/local', { name: 'Used', 's.folder': 'used' })
    const [dest] = await listDestinations(deps.db, alice.id)
    await c.post('/backups/settings', {
      name: 'Daily',
      includeHome: 'on',
      enabled: 'on',
      destinations: String(dest!.id),
      preset: 'daily',
      timezone: 'UTC',
      keepDaily: '7',
      keepWeekly: '4',
      keepMonthly: '12',
    })
    expect(await listPolicies(deps.db, alice.id)).toHaveLength(1)
    const res = await c.post(`/backups/destinations/${dest!.id}/delete`, { confirm: 'yes' })
    expect(res.location).toBe('/backups/destinations')
    expect((await c.get('/backups/destinations')).body).toContain('is used by “Daily”')
    expect(await listDestinations(deps.db, alice.id)).toHaveLength(1)
  })
})

/** A driver that uses every field type, to exercise the form and secret machinery. */
const vaultSpec = [
  { name: 'host', label: 'Host', type: 'text', required: true },
  { name: 'port', label: 'Port', type: 'number', min: 1, max: 65535, default: 443 },
  {
    name: 'tier',
    label: 'Tier',
    type: 'select',
    default: 'hot',
    choices: [
      { value: 'hot', label: 'Hot' },
      { value: 'cold', label: 'Cold' },
    ],
  },
  { name: 'verify', label: 'Verify TLS', type: 'checkbox', default: true },
  { name: 'note', label: 'Note', type: 'textarea', advanced: true, help: 'Shown folded' },
  { name: 'password', label: 'Password', type: 'secret', required: true },
  { name: 'privateKey', label: 'Private key', type: 'textarea', secret: true, advanced: true },
] as const satisfies Spec

describe('secret fields (a driver with every field type)', async () => {
  const registry: Registry = {
    ...drivers,
    vault: {
      label: 'Vault',
      description: 'test',
      settings: vaultSpec,
      open: () => {
        throw new Error('form-only test driver')
      },
      repository: () => ({ repository: 'none' }),
    },
  }
  const deps = freshDeps({ drivers: registry })
  const alice = await addTenant(deps, 'alice')
  const c = new Client(deps)
  await c.login('alice')
  const SECRET = 'pa55-w0rd-very-secret'
  const KEY =
    '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretkey\n-----END OPENSSH PRIVATE KEY-----'

  it('renders every field type, advanced ones folded', async () => {
    const page = (await c.get('/backups/destinations/new/vault')).body
    expect(page).toContain('type="number"')
    expect(page).toContain('<select')
    expect(page).toContain('type="checkbox"')
    expect(page).toContain('type="password"')
    expect(page).toMatch(
      /<details class="advanced">[\s\S]*name="s.note"[\s\S]*name="s.privateKey"[\s\S]*<\/details>/,
    )
  })

  it('encrypts secrets at rest and never renders them back', async () => {
    const res = await c.post('/backups/destinations/new/vault', {
      name: 'Vault',
      's.host': 'vault.example',
      's.port': '8443',
      's.tier': 'cold',
      's.verify': 'on',
      's.password': SECRET,
      's.privateKey': KEY,
    })
    expect(res.status).toBe(303)
    const [dest] = await listDestinations(deps.db, alice.id)
    expect(JSON.stringify(dest)).not.toContain(SECRET)
    // What is stored: the SQLite file, or every destination row as PostgreSQL holds it.
    const file = isPostgres(deps.db)
      ? Buffer.from(JSON.stringify(await rows(deps.db, sql`select * from destinations`)))
      : (deps.db.$client.pragma('wal_checkpoint(TRUNCATE)'), readFileSync(deps.config.dbPath))
    expect(file.includes(SECRET)).toBe(false)
    expect(file.includes('AAAAsecretkey')).toBe(false)
    const edit = await c.get(`/backups/destinations/${dest!.id}`)
    expect(edit.body).not.toContain(SECRET)
    expect(edit.body).not.toContain('AAAAsecretkey')
    expect(edit.body).toContain('stored (leave blank to keep)')
    expect((await c.get('/backups/destinations')).body).not.toContain(SECRET)
  })

  it('keeps stored secrets when left blank, even when another field has an error', async () => {
    const [dest] = await listDestinations(deps.db, alice.id)
    const bad = await c.post(`/backups/destinations/${dest!.id}`, {
      name: 'Vault',
      's.host': '',
      's.port': '99999',
      's.tier': 'cold',
      's.password': '',
    })
    expect(bad.status).toBe(422)
    expect(bad.body).toContain('Host is required.')
    expect(bad.body).toContain('Port must be at most 65535.')
    expect(bad.body).not.toContain(SECRET)
    await c.post(`/backups/destinations/${dest!.id}`, {
      name: 'Vault 2',
      's.host': 'h2',
      's.port': '1',
      's.tier': 'hot',
      's.password': '',
    })
    const after = (await listDestinations(deps.db, alice.id))[0]!
    expect(after).toMatchObject({
      name: 'Vault 2',
      settings: { host: 'h2', port: 1, tier: 'hot', verify: false },
    })
    expect(readSecrets(deps.config.secretKey, alice.id, after)).toEqual({
      password: SECRET,
      privateKey: KEY,
    })
    await c.post(`/backups/destinations/${dest!.id}`, {
      name: 'Vault 2',
      's.host': 'h2',
      's.tier': 'hot',
      's.password': 'new-one',
    })
    expect(
      readSecrets(deps.config.secretKey, alice.id, (await listDestinations(deps.db, alice.id))[0]!)
        .password,
    ).toBe('new-one')
  })
})

describe('Test connection', async () => {
  const { readdirSync, writeFileSync, mkdirSync } = await import('node:fs')
  const { join } = await import('node:path')
  const deps = freshDeps()
  await addTenant(deps, 'alice')
  const c = new Client(deps)
  await c.login('alice')

  it('writes, reads back and removes a probe, keeping the typed form', async () => {
    const res = await c.post(
      '/backups/destinations/new/local/test',
      { name: 'Typed name', 's.folder': 'probe-here' },
      { htmx: true },
    )
    expect(res.status).toBe(200)
    expect(res.body).toContain('Test passed.')
    expect(res.body).toContain('value="Typed name"')
    expect(readdirSync(join(deps.config.localRoot, 'alice', 'probe-here'))).toEqual([])
    expect((await c.get('/backups/destinations')).body).not.toContain('Typed name')
  })

  it('says plainly what is wrong, and flags bad fields', async () => {
    mkdirSync(join(deps.config.localRoot, 'alice'), { recursive: true })
    writeFileSync(
      join(deps.config.localRoot, 'alice', 'blocked'),
      'a file where a folder should be',
    )
    const res = await c.post(
      '/backups/destinations/new/local/test',
      { name: 'X', 's.folder': 'blocked/inner' },
      { htmx: true },
    )
    expect(res.body).toMatch(/<strong>Test failed. <\/strong>\w/)
    const bad = await c.post('/backups/destinations/new/local/test', {
      name: 'X',
      's.folder': '../etc',
    })
    expect(bad.body).toContain('Fix the highlighted fields first.')
    expect(bad.body).toContain('id="f-s-folder-error"')
  })
})
