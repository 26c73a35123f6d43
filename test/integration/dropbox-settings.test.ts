import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dropbox } from '../../src/drivers/dropbox/index.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import { putBytes } from '../drivers/suite.ts'
import type { DropboxFake } from '../services/dropbox-fake.ts'
import { LOOPBACK, dropboxDrivers, startFake } from '../support/dropbox.ts'

let fake: DropboxFake
const { open, closeAll } = dropboxDrivers(() => fake)
beforeAll(async () => {
  fake = await startFake()
})
afterAll(closeAll)

describe('dropbox settings', () => {
  it('validates the form: app key and secret required, refresh token optional and secret', () => {
    const bad = parseSettings(dropbox.settings, { appKey: '', remotePath: '/a/../b' })
    expect(bad).toMatchObject({
      ok: false,
      errors: {
        appKey: expect.any(String),
        appSecret: expect.any(String),
        remotePath: expect.any(String),
      },
    })
    const good = parseSettings(dropbox.settings, {
      appKey: 'abc123def',
      appSecret: 's3',
      refreshToken: 'rt',
      remotePath: '/Backups/site/',
    })
    expect(good).toEqual({
      ok: true,
      settings: { appKey: 'abc123def', remotePath: '/Backups/site/' },
      secrets: { appSecret: 's3', refreshToken: 'rt' },
    })
    expect(dropbox.settings.find((f) => f.name === 'refreshToken')).toMatchObject({
      advanced: true,
      help: expect.stringMatching(/Connect Dropbox/),
    })
  })

  it('roots the driver at /<remote path>/<tenant>, and refuses to open without a refresh token', async () => {
    const d = open('/Shared/Backups/')
    await putBytes(d, 'config', 'x')
    expect(fake.files.has('/shared/backups/alice/config')).toBe(true)
    const ctx = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }
    expect(() => dropbox.open({ appKey: 'k', remotePath: '' }, { appSecret: 's' }, ctx)).toThrow(
      /not connected yet: press Connect Dropbox/,
    )
  })

  it('gives stock restic an rclone repository at the same folder, credentials in the environment', () => {
    const ctx = { tenantName: 'alice', localRoot: '/x', guard: LOOPBACK }
    const repo = dropbox.repository(
      { appKey: 'k1', remotePath: '/backups' },
      { appSecret: 's1', refreshToken: 'r1' },
      ctx,
    )
    expect(repo.repository).toBe('rclone:dropbox:backups/alice')
    expect(repo.env).toMatchObject({
      RCLONE_CONFIG_DROPBOX_TYPE: 'dropbox',
      RCLONE_CONFIG_DROPBOX_CLIENT_ID: 'k1',
      RCLONE_CONFIG_DROPBOX_CLIENT_SECRET: 's1',
    })
    expect(JSON.parse(repo.env!.RCLONE_CONFIG_DROPBOX_TOKEN!)).toMatchObject({
      refresh_token: 'r1',
    })
    expect(repo.note).toMatch(/rclone serve restic dropbox:backups\/alice/)
    expect(repo.note).not.toMatch(/s1|r1"/)
  })
})
