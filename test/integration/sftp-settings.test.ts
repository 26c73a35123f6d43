import { describe, expect, it } from 'vitest'
import { sftp } from '../../src/drivers/sftp/index.ts'
import { settings } from '../../src/drivers/sftp/settings.ts'
import { isSecret, parseSettings } from '../../src/drivers/spec.ts'
import type { DriverContext } from '../../src/drivers/registry.ts'
import { LOOPBACK } from '../support/sftp.ts'
import { errorOf as failure } from '../support/storage.ts'

describe('sftp settings and repository string', () => {
  const ctx: DriverContext = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }
  const base = {
    host: 'backup.example.com',
    port: 22,
    user: 'bk',
    path: '/srv/backups',
    hostKey: '',
  }

  it('gives stock restic the same folder, in its sftp: forms', () => {
    expect(sftp.repository(base, {}, ctx).repository).toBe(
      'sftp:bk@backup.example.com:/srv/backups/alice',
    )
    expect(sftp.repository({ ...base, path: 'backups/' }, {}, ctx).repository).toBe(
      'sftp:bk@backup.example.com:backups/alice',
    )
    expect(sftp.repository({ ...base, path: '~/backups' }, {}, ctx).repository).toBe(
      'sftp:bk@backup.example.com:backups/alice',
    )
    // restic drops the first / after host:port, so an absolute path shows two.
    expect(sftp.repository({ ...base, port: 2222 }, {}, ctx).repository).toBe(
      'sftp://bk@backup.example.com:2222//srv/backups/alice',
    )
    expect(sftp.repository({ ...base, host: '2001:db8::5' }, {}, ctx).repository).toBe(
      'sftp://bk@[2001:db8::5]:22//srv/backups/alice',
    )
    const kit = sftp.repository(
      { ...base, hostKey: 'SHA256:' + 'A'.repeat(43) },
      { password: 'hunter2-secret', privateKey: 'PRIVATE' },
      ctx,
    )
    expect((kit as { env?: unknown }).env).toBeUndefined()
    expect(kit.note).toContain('~/.ssh')
    expect(kit.note).toContain('SHA256:' + 'A'.repeat(43))
    expect(JSON.stringify(kit)).not.toMatch(/hunter2-secret|PRIVATE/)
  })

  it('validates the form: host, port, key and fingerprint', () => {
    const form = {
      host: 'backup.example.com',
      port: '22',
      path: 'backups',
      user: 'bk',
      password: 'pw',
    }
    expect(parseSettings(settings, form)).toMatchObject({
      ok: true,
      settings: { port: 22, hostKey: '' },
      secrets: { password: 'pw' },
    })
    expect(parseSettings(settings, { ...form, port: '' })).toMatchObject({
      ok: true,
      settings: { port: null },
    })
    const bad = parseSettings(settings, {
      ...form,
      host: 'sftp://backup.example.com',
      port: '70000',
      privateKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI bk@laptop',
      hostKey: 'MD5:12:34',
    })
    expect(bad.ok).toBe(false)
    expect(Object.keys((bad as { errors: object }).errors).sort()).toEqual([
      'host',
      'hostKey',
      'port',
      'privateKey',
    ])
    expect(parseSettings(settings, { ...form, host: 'bk@backup.example.com' })).toMatchObject({
      ok: false,
      errors: { host: expect.stringMatching(/User field/) },
    })
    expect(parseSettings(settings, { ...form, hostKey: 'SHA256:' + 'x'.repeat(43) })).toMatchObject(
      { ok: true },
    )
    expect(settings.filter((f) => isSecret(f)).map((f) => f.name)).toEqual([
      'password',
      'privateKey',
      'passphrase',
    ])
  })

  it('refuses to connect when no host key is pinned', async () => {
    const d = sftp.open({ ...base, host: '127.0.0.1' }, { password: 'x' }, ctx)
    expect(await failure(d.stat('config'))).toMatchObject({
      code: 'BadConfig',
      message: "test the connection first to pin the server's host key",
    })
  })
})
