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
      note: 'A folder on this server that only root can read; copy it anywhere and point restic at the copy.',
      // The folder is root's (mode 0700): a tenant can neither read nor copy it themself.
      tenantNote:
        'This backup is a folder on this server that only the server’s administrator can open, so you cannot copy it yourself. ' +
        'To get your files, use Download or Restore on the Restore page. To restore without this panel, ask your host for a copy of the folder: with this password, stock restic opens that copy anywhere. ' +
        'If this server is lost, this backup is lost with it: add a destination of your own elsewhere (S3, SFTP, WebDAV, Dropbox or Azure) for a copy you control.',
    }
  },
})
