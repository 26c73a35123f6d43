import { beforeAll, describe, expect, it, vi } from 'vitest'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import { Client, PASSWORD, addTenant, freshDeps, storedBytes } from '../helpers.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { createSession, generateSessionToken } from '../../src/auth/session.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { getBackupToken } from '../../src/db/access.ts'
import { auditLog, users } from '../../src/db/schema.ts'
import { checkBackupToken } from '../../src/domain/backup-token.ts'
import { notify } from '../../src/notify/notify.ts'
import { SESSION_COOKIE } from '../../src/web/auth.tsx'

// The real notify, recorded, so the test sees which events reach the admins' e-mail.
vi.mock('../../src/notify/notify.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/notify/notify.ts')>()
  return { ...real, notify: vi.fn(real.notify) }
})

const deps = freshDeps({ env: { PANEL_TOKEN_DELAY_HOURS: '48' } })
const TOKEN = /data-testid="backup-token">\s*(bt_[a-z2-7]{32})\s*</
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

async function actions(tenantId: number) {
  return (
    await deps.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, tenantId)))
  ).map((e) => e.action)
}

/** Runs the real CLI against this test's database. */
function panel(args: string[]) {
  const res = spawnSync('node', ['src/bin.js', ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      PANEL_DATA_DIR: deps.config.dataDir,
      PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
    },
  })
  return { code: res.status, out: res.stdout, err: res.stderr }
}

describe('backup token (Backups > Access)', () => {
  let alice: Awaited<ReturnType<typeof addTenant>>
  let bob: Awaited<ReturnType<typeof addTenant>>
  const web = new Client(deps)

  beforeAll(async () => {
    await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
    alice = await addTenant(deps, 'alice')
    bob = await addTenant(deps, 'bob')
    await web.login('alice')
  })

  it('shows the Access page in the tenant nav with no token yet', async () => {
    const page = await web.get('/backups/access')
    expect(page.status).toBe(200)
    expect(page.body).toContain('href="/backups/access"')
    expect(page.body).toContain('No backup token yet')
    expect(page.body).toContain('Create backup token')
  })

  it('refuses without the word create or with a wrong password, beside the field, storing nothing', async () => {
    const noWord = await web.post('/backups/access/token', { confirm: 'yes', password: PASSWORD })
    expect(noWord.status).toBe(422)
    expect(noWord.body).toMatch(/id="f-confirm-error"[^>]*>Type the word “create” to confirm\./)
    expect(noWord.body).toContain('value="yes"') // what was typed stays
    const wrong = await web.post(
      '/backups/access/token',
      { confirm: 'create', password: 'not my password' },
      { htmx: true },
    )
    expect(wrong.status).toBe(422)
    expect(wrong.body).toMatch(/^<section class="card" id="token-card">/) // the card alone, for htmx
    expect(wrong.body).toMatch(/id="f-password-error"[^>]*>That is not your password\./)
    expect(wrong.body).not.toContain('not my password')
    expect(await getBackupToken(deps.db, alice.id)).toBeUndefined()
    expect(notify).not.toHaveBeenCalled()
  })

  let first = ''
  it('creates a token shown once, storing only its SHA-256, and tells the admins', async () => {
    const res = await web.post('/backups/access/token', { confirm: 'create', password: PASSWORD })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    first = res.body.match(TOKEN)![1]!
    const row = (await getBackupToken(deps.db, alice.id))!
    expect(row.tokenHash).toBe(sha256(first))
    expect(row.activeFrom.getTime()).toBeLessThanOrEqual(Date.now())
    expect((await storedBytes(deps)).includes(first)).toBe(false)
    expect(await checkBackupToken(deps.db, alice.id, first)).toEqual({ ok: true })
    const again = await web.get('/backups/access')
    expect(again.body).not.toContain(first)
    expect(again.body).toContain('Active')
    expect(again.body).toContain('Reset backup token')
    expect(notify).toHaveBeenLastCalledWith(
      expect.anything(),
      expect.objectContaining({ type: 'token.created', tenantId: alice.id, by: 'alice' }),
    )
    expect(await actions(alice.id)).toContain('token.create')
  })

  it('reset gives a new token and the old one stops working at once', async () => {
    const res = await web.post(
      '/backups/access/token',
      { confirm: 'create', password: PASSWORD },
      { htmx: true },
    )
    expect(res.status).toBe(200)
    const second = res.body.match(TOKEN)![1]!
    expect(second).not.toBe(first)
    expect(await checkBackupToken(deps.db, alice.id, first)).toEqual({
      ok: false,
      reason: 'invalid',
    })
    expect(await checkBackupToken(deps.db, alice.id, second)).toEqual({ ok: true })
    expect(notify).toHaveBeenLastCalledWith(
      expect.anything(),
      expect.objectContaining({ type: 'token.reset', tenantId: alice.id }),
    )
    expect(await actions(alice.id)).toContain('token.reset')
    const entries = await deps.db.select().from(auditLog)
    expect(JSON.stringify(entries)).not.toContain(second)
  })

  describe('an account without a password', () => {
    const sso = new Client(deps)
    let token = ''

    beforeAll(async () => {
      // Single sign-on style: a session, but no password to confirm with.
      await deps.db.update(users).set({ passwordHash: null }).where(eq(users.tenantId, bob.id))
      const user = (await deps.db.select().from(users).where(eq(users.tenantId, bob.id)))[0]!
      const session = generateSessionToken()
      await createSession(deps.db, session, user.id)
      sso.cookies.set(SESSION_COOKIE, session)
    })

    it('gets a token that is valid only after the waiting period, shown on the page', async () => {
      const page = await sso.get('/backups/access')
      expect(page.body).not.toContain('name="password"')
      expect(page.body).toContain('valid 48 hours after you create it')
      const res = await sso.post('/backups/access/token', { confirm: 'create' })
      expect(res.status).toBe(200)
      token = res.body.match(TOKEN)![1]!
      const row = (await getBackupToken(deps.db, bob.id))!
      const wait = row.activeFrom.getTime() - Date.now()
      expect(wait).toBeGreaterThan(47 * 3600_000)
      expect(wait).toBeLessThanOrEqual(48 * 3600_000)
      expect(await checkBackupToken(deps.db, bob.id, token)).toMatchObject({
        ok: false,
        reason: 'not_active',
      })
      const after = await sso.get('/backups/access')
      expect(after.body).toContain('Valid from')
      expect(notify).toHaveBeenLastCalledWith(
        expect.anything(),
        expect.objectContaining({
          type: 'token.created',
          tenantId: bob.id,
          activeFrom: row.activeFrom,
        }),
      )
    })

    it('becomes valid at once with `panel token allow-now`', async () => {
      const res = panel(['token', 'allow-now', 'bob'])
      expect(res).toMatchObject({ code: 0, out: 'The backup token of "bob" is valid now.\n' })
      expect(await checkBackupToken(deps.db, bob.id, token)).toEqual({ ok: true })
      expect(await actions(bob.id)).toContain('token.allow_now')
      expect(panel(['token', 'allow-now', 'nobody'])).toMatchObject({
        code: 1,
        err: 'panel: Tenant “nobody” does not exist or is not yours.\n',
      })
      expect(panel(['token', 'allow-now', 'alice']).out).toContain('was already valid')
    })

    it('becomes valid at once through the admin’s tenant page', async () => {
      const res = await sso.post('/backups/access/token', { confirm: 'create' })
      token = res.body.match(TOKEN)![1]!
      expect(await checkBackupToken(deps.db, bob.id, token)).toMatchObject({
        ok: false,
        reason: 'not_active',
      })
      // A tenant cannot allow their own token.
      expect((await sso.post(`/admin/tenants/${bob.id}/token/allow-now`, {})).status).toBe(404)
      expect(await checkBackupToken(deps.db, bob.id, token)).toMatchObject({
        ok: false,
        reason: 'not_active',
      })
      const admin = new Client(deps)
      await admin.login('boss')
      const page = await admin.get(`/admin/tenants/${bob.id}`)
      expect(page.body).toContain('Waiting')
      expect(page.body).toContain(`action="/admin/tenants/${bob.id}/token/allow-now"`)
      const allow = await admin.post(`/admin/tenants/${bob.id}/token/allow-now`, {})
      expect(allow.status).toBe(303)
      expect(await checkBackupToken(deps.db, bob.id, token)).toEqual({ ok: true })
      const after = await admin.get(`/admin/tenants/${bob.id}`)
      expect(after.body).toContain('valid now')
      expect(after.body).toContain('Active')
      expect(after.body).not.toContain('Allow token now')
      const entry = (
        await deps.db.select().from(auditLog).where(eq(auditLog.action, 'token.allow_now'))
      ).at(-1)!
      expect(entry).toMatchObject({ actor: 'boss', tenantId: bob.id })
    })
  })
})
