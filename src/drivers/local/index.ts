import { settings } from './settings.ts'
import { localDriver } from './driver.ts'
import { join } from 'node:path'
import type { DriverContext } from '../registry.ts'

const folderOf = (values: Record<string, unknown>, ctx: DriverContext) =>
  join(ctx.localRoot, ctx.tenantName, String(values.folder))

export const local = {
  label: 'Local',
  description: 'This server’s backup storage. Fast to restore; keep a remote copy too.',
  settings,
  /** `<localRoot>/<tenant>/<folder>`: tenants never choose raw paths. */
  open(values: Record<string, unknown>, _secrets: Record<string, string>, ctx: DriverContext) {
    return localDriver(folderOf(values, ctx))
  },
  repository(values: Record<string, unknown>, _secrets: Record<string, string>, ctx: DriverContext) {
    return { repository: folderOf(values, ctx), note: 'A folder on this server; copy it anywhere and point restic at the copy.' }
  },
}
