import { describe, expect, it } from 'vitest'
import { webdav, rcloneObscure } from '../../src/drivers/webdav/index.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'

const LOOPBACK: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }

describe('webdav settings and recovery kit', () => {
  const ctx = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }

  it('validates the URL and path, and keeps the password secret', () => {
    const ok = parseSettings(webdav.settings, {
      url: 'https://dav.example.com/remote.php/dav/files/me/',
      path: 'a/b',
      username: 'me',
      password: 'pw',
    })
    expect(ok).toEqual({
      ok: true,
      settings: {
        url: 'https://dav.example.com/remote.php/dav/files/me/',
        path: 'a/b',
        username: 'me',
      },
      secrets: { password: 'pw' },
    })
    const bad = parseSettings(webdav.settings, { url: 'ftp://x', path: 'a/../b' })
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.errors.url).toMatch(/https:\/\//)
      expect(bad.errors.path).toMatch(/\.\./)
    }
    const creds = parseSettings(webdav.settings, { url: 'https://me:pw@dav.example.com/' })
    expect(!creds.ok && creds.errors.url).toMatch(/own fields/)
    expect(parseSettings(webdav.settings, { url: 'not a url' }).ok).toBe(false)
  })
  it('obscures passwords exactly like `rclone obscure`', () => {
    expect(rcloneObscure('potato', Buffer.from('aaaaaaaaaaaaaaaa'))).toBe(
      'YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ',
    )
    expect(rcloneObscure('potato', Buffer.from('bbbbbbbbbbbbbbbb'))).toBe(
      'YmJiYmJiYmJiYmJiYmJiYp3gcEWbAw',
    )
  })

  it('gives an rclone repository for the same folder, with the remote in the environment', () => {
    const url = 'https://dav.example.com/remote.php/dav/files/me/'
    const repo = webdav.repository(
      { url, path: '/backups/panel/', username: 'me' },
      { password: 'pw' },
      ctx,
    )
    expect(repo.repository).toBe('rclone:panelwebdav:backups/panel/alice')
    expect(repo.env).toMatchObject({
      RCLONE_CONFIG_PANELWEBDAV_TYPE: 'webdav',
      RCLONE_CONFIG_PANELWEBDAV_URL: 'https://dav.example.com/remote.php/dav/files/me',
      RCLONE_CONFIG_PANELWEBDAV_USER: 'me',
    })
    expect(repo.env!.RCLONE_CONFIG_PANELWEBDAV_PASS).not.toBe('pw')
    expect(repo.note).toContain(
      '[panelwebdav]\ntype = webdav\nurl = https://dav.example.com/remote.php/dav/files/me\nvendor = other\nuser = me\n',
    )
    expect(repo.note).toContain('rclone serve restic')
    expect(repo.note).toContain('restic -r rclone:panelwebdav:backups/panel/alice')
    expect(repo.note).not.toContain('pw\n')
  })
})
