import { join } from 'node:path'
import { defineDriver, type DriverContext } from '../entry.ts'
import { settings } from './settings.ts'
import { localDriver } from './driver.ts'

const folderOf = (s: { folder: string }, ctx: DriverContext) =>
  join(ctx.localRoot, ctx.tenantName, s.folder)

export const local = defineDriver({
  label: 'Local',
  description: 'This server’s backup storage. Fast to restore; keep a remote copy too.',
  settings,
  /** `<localRoot>/<tenant>/<folder>`: tenants never choose raw paths. */
  open(s, _secrets, ctx) {
    return localDriver(folderOf(s, ctx))
  },
  repository(s, _secrets, ctx) {
    return {
      repository: folderOf(s, ctx),
      note: 'A folder on this server; copy it anywhere and point restic at the copy.',
    }
  },
})
