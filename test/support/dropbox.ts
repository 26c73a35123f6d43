import { randomBytes } from 'node:crypto'
import { dropbox } from '../../src/drivers/dropbox/index.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import type { Driver } from '../../src/drivers/types.ts'
import { startDropboxFake, type DropboxFake } from '../services/dropbox-fake.ts'

export const LOOPBACK: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }

/** Starts the Dropbox fake (two entries per list_folder page) and points the driver at it. */
export async function startFake(): Promise<DropboxFake> {
  const fake = await startDropboxFake({ pageSize: 2 })
  process.env.PANEL_DROPBOX_API_BASE = fake.url
  return fake
}

/**
 * Drivers on `fake()`: `open` gives one for tenant `alice` under `remotePath` with the fake's
 * app and refresh token; `withBase` runs `fn` with the API base pointing elsewhere; `visible`
 * lists the paths stored under a folder; `closeAll` closes every driver opened and the fake.
 */
export function dropboxDrivers(fake: () => DropboxFake) {
  const opened: Driver[] = []

  function open(
    remotePath = `/t-${randomBytes(4).toString('hex')}`,
    secrets: Record<string, string> = {},
    guard = LOOPBACK,
  ) {
    const f = fake()
    const driver = dropbox.open(
      { appKey: f.appKey, remotePath },
      { appSecret: f.appSecret, refreshToken: f.refreshToken, ...secrets },
      { tenantName: 'alice', localRoot: '/nonexistent', guard },
    )
    opened.push(driver)
    return driver
  }

  async function withBase<T>(base: string, fn: () => Promise<T>): Promise<T> {
    process.env.PANEL_DROPBOX_API_BASE = base
    try {
      return await fn()
    } finally {
      process.env.PANEL_DROPBOX_API_BASE = fake().url
    }
  }

  const visible = (under: string) =>
    [...fake().files.values()]
      .map((f) => f.path)
      .filter((p) => p.toLowerCase().startsWith(under.toLowerCase()))

  async function closeAll() {
    await Promise.all(opened.map((d) => d.close?.()))
    await fake()?.close()
    delete process.env.PANEL_DROPBOX_API_BASE
  }

  return { open, withBase, visible, closeAll }
}
