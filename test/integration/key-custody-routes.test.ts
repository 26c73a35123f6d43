import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client, ORIGIN, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { requireBinaries } from '../support/rekey.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { insertProviderDestination } from '../../src/db/provider-destinations.ts'
import { destinations } from '../../src/db/schema.ts'
import { activeJobs } from '../../src/db/jobs.ts'
import { listAudit } from '../../src/db/audit-log.ts'
import {
  markInitialized,
  repositoryFor,
  repositoryPassword,
  setRepositoryPassword,
} from '../../src/db/repositories.ts'
import { HOST_STORAGE_NOTE } from '../../src/engine/restic/recovery.ts'

const SECRET = 'host-secret-key-0123456789'
const KEY_ID = 'HOSTKEYID0123'

describe('key custody: password changes, the host’s storage in a kit, escrow', async () => {
  const deps = freshDeps()
  const key = deps.config.secretKey
  const alice = await addTenant(deps, 'alice')
  const bob = await addTenant(deps, 'bob')
  const own = (tenantId: number, name: string, folder: string) =>
    saveDestination({ ...deps, secretKey: key }, tenantId, 'local', null, {
      name,
      settings: { folder },
    })
  const initialized = async (tenantId: number, destinationId: number) => {
    const repo = await repositoryFor(deps.db, key, tenantId, destinationId)
    await markInitialized(deps.db, repo.id)
    return repo
  }
  const here = await own(alice.id, 'Here', 'kit')
  await initialized(alice.id, here.id)
  const empty = await own(alice.id, 'Empty', 'none')
  const bobs = await own(bob.id, 'Bobs', 'b')
  await initialized(bob.id, bobs.id)
  // The host's S3 storage and alice's copy of it (no secrets of its own: the host's are used).
  const host = await insertProviderDestination(deps.db, key, {
    type: 's3',
    name: 'Host S3',
    settings: { bucket: 'host-bucket', accessKeyId: KEY_ID, endpoint: 's3.example.net' },
    secrets: { secretAccessKey: SECRET },
  })
  const copy = (
    await deps.db
      .insert(destinations)
      .values({
        tenantId: alice.id,
        type: 's3',
        name: 'Host storage',
        settings: host.settings,
        secrets: null,
        providerDestinationId: host.id,
      })
      .returning()
  )[0]
  const copyRepo = await initialized(alice.id, copy.id)

  await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
  const admin = new Client(deps)
  await admin.login('boss')
  const a = new Client(deps)
  await a.login('alice')
  const b = new Client(deps)
  await b.login('bob')
  const rekeys = async (tenantId: number) =>
    (await activeJobs(deps.db, tenantId)).filter((j) => j.kind === 'rekey')

  it('offers Change password per repository, asks to confirm, then queues one job', async () => {
    const page = await a.get('/backups/recovery')
    expect(page.body).toContain(`action="/backups/recovery/${here.id}/password"`)
    expect(page.body).not.toContain(`/backups/recovery/${empty.id}/password`)

    const ask = await a.post(`/backups/recovery/${here.id}/password`, {})
    expect(ask.status).toBe(200)
    expect(ask.body).toContain('Change the password of “Here”?')
    expect(ask.body).toContain('Yes, change the password')
    expect(await rekeys(alice.id)).toHaveLength(0)

    const yes = await a.post(`/backups/recovery/${here.id}/password`, { confirm: 'yes' })
    expect(yes.status).toBe(303)
    expect(yes.location).toBe('/backups/recovery')
    const after = await a.get('/backups/recovery')
    expect(after.body).toContain('Password change for “Here” queued.')
    expect(after.body).toContain('Change queued')
    const [job] = await rekeys(alice.id)
    expect(job).toMatchObject({ kind: 'rekey', payload: { destinationId: here.id } })

    await a.post(`/backups/recovery/${here.id}/password`, { confirm: 'yes' })
    expect(await rekeys(alice.id)).toHaveLength(1)
    const entries = (
      await listAudit(deps.db, { tenantId: alice.id }, { action: 'repository.rekey' })
    ).rows
    expect(entries.map((e) => e.actor)).toEqual(['alice', 'alice'])
  })

  it.each([
    ['another tenant’s destination (bob on alice’s)', () => b, () => here.id, {}, 404],
    ['another tenant’s destination (alice on bob’s)', () => a, () => bobs.id, {}, 404],
    ['no repository there yet', () => a, () => empty.id, {}, 409],
    ['no CSRF token', () => b, () => bobs.id, { csrf: 'none' as const }, 403],
    ['a forged CSRF token', () => b, () => bobs.id, { csrf: 'forged' }, 403],
    ['another site', () => b, () => bobs.id, { origin: 'https://evil.example' }, 403],
  ])('refuses %s (%#)', async (_what, who, id, opts, status) => {
    const before = (await rekeys(bob.id)).length + (await rekeys(alice.id)).length
    const res = await who().post(`/backups/recovery/${id()}/password`, { confirm: 'yes' }, opts)
    expect(res.status).toBe(status)
    expect((await rekeys(bob.id)).length + (await rekeys(alice.id)).length).toBe(before)
  })

  it('a tenant’s kit for the host’s storage holds no credential of the host', async () => {
    const res = await a.post('/backups/recovery', {
      destination: String(copy.id),
      password: PASSWORD,
    })
    expect(res.status).toBe(200)
    expect(res.body).toContain(repositoryPassword(key, copyRepo))
    expect(res.body).toContain('s3:https://s3.example.net/host-bucket/alice')
    expect(res.body).toContain(HOST_STORAGE_NOTE)
    for (const secret of [SECRET, KEY_ID, 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'])
      expect(res.body).not.toContain(secret)
  })

  it('a tenant cannot reach the escrow page', async () => {
    expect((await a.get('/admin/recovery-kits')).status).toBe(404)
    const post = await a.post('/admin/recovery-kits', { recipient: 'age1x' })
    expect(post.status).toBe(404)
    expect((await listAudit(deps.db, 'all', { action: 'recovery.escrow' })).rows).toHaveLength(0)
  })

  it('refuses a bad age key beside the field', async () => {
    expect((await admin.get('/admin/recovery-kits')).body).toContain('3 repositories')
    const bad = await admin.post('/admin/recovery-kits', { recipient: 'ssh-ed25519 AAAA' })
    expect(bad.status).toBe(422)
    expect(bad.body).toMatch(/class="field-error" id="f-recipient-error"[^>]*>That is not an age/)
  })

  it.runIf(requireBinaries(['age', 'age-keygen'], 'apt-get install age'))(
    'escrow: every tenant’s kit with its current password, sealed for age -d',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'escrow-'))
      const identity = join(dir, 'key.txt')
      execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' })
      const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim()
      // A password changed since the repository was made: the export holds the current one.
      await setRepositoryPassword(
        deps.db,
        key,
        await repositoryFor(deps.db, key, bob.id, bobs.id),
        'bob-now',
      )

      const res = await admin.app.request('/admin/recovery-kits', {
        method: 'POST',
        headers: {
          origin: ORIGIN,
          'content-type': 'application/x-www-form-urlencoded',
          cookie: [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        },
        body: new URLSearchParams({ _csrf: admin.token, recipient }).toString(),
      })
      expect(res.status).toBe(200)
      const day = new Date().toISOString().slice(0, 10)
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="recovery-kits-${day}.age"`,
      )
      expect(res.headers.get('cache-control')).toBe('no-store')
      const file = join(dir, 'kits.age')
      writeFileSync(file, Buffer.from(await res.arrayBuffer()))
      expect(readFileSync(file).toString('latin1')).not.toContain('bob-now')

      const opened = JSON.parse(
        execFileSync('age', ['-d', '-i', identity, file], { encoding: 'utf8' }),
      )
      const kits = opened.kits as Record<string, any>[]
      const of = (t: string, d: string) => kits.find((k) => k.tenant === t && k.destination === d)
      expect(kits).toHaveLength(3)
      expect(of('bob', 'Bobs')).toMatchObject({ type: 'local', password: 'bob-now' })
      expect(of('bob', 'Bobs')!.command).toContain("RESTIC_PASSWORD='bob-now'")
      expect(of('alice', 'Here')!.password).toBe(
        repositoryPassword(key, await repositoryFor(deps.db, key, alice.id, here.id)),
      )
      // The admin's kit for the host's storage is complete: the host's credentials are in it.
      expect(of('alice', 'Host storage')).toMatchObject({
        type: 's3',
        password: repositoryPassword(key, copyRepo),
        env: { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET },
      })
      const audited = (await listAudit(deps.db, 'all', { action: 'recovery.escrow' })).rows
      expect(audited).toHaveLength(1)
      expect(audited[0]).toMatchObject({ actor: 'boss', details: { repositories: 3 } })
      expect(JSON.stringify(audited)).not.toContain('bob-now')
    },
  )
})
