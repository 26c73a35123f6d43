import { defineDriver, type DriverContext } from '../entry.ts'
import { StorageError } from '../types.ts'
import { dropboxApi } from './api.ts'
import { dropboxDriver } from './driver.ts'
import { authorizeUrl, exchangeCode } from './oauth.ts'
import { rootOf, settings, type DropboxSettings } from './settings.ts'

export { authorizeUrl, exchangeCode, newCodeVerifier } from './oauth.ts'

const folderOf = (s: DropboxSettings, ctx: DriverContext) => rootOf(s.remotePath, ctx.tenantName)

export const dropbox = defineDriver({
  label: 'Dropbox',
  description:
    'Your Dropbox, through a Dropbox app you create; press Connect Dropbox once to sign in.',
  settings,
  /**
   * A driver on `/<remote path>/<tenant>` (inside the app folder for app-folder apps). Throws
   * BadConfig while the destination has no refresh token (Connect Dropbox not done yet).
   */
  open(s, secrets, ctx) {
    const { appKey } = s
    const { appSecret, refreshToken } = secrets
    if (!appKey || !appSecret)
      throw new StorageError('BadConfig', 'Enter the Dropbox app key and app secret.')
    if (!refreshToken) {
      throw new StorageError(
        'BadConfig',
        'Dropbox is not connected yet: press Connect Dropbox to sign in.',
      )
    }
    return dropboxDriver(
      dropboxApi({ appKey, appSecret, refreshToken }, ctx.guard),
      folderOf(s, ctx),
    )
  },
  /**
   * restic has no Dropbox backend: stock restic reaches the repository through rclone
   * (`rclone:` repositories), with an rclone remote named `dropbox` defined by the environment.
   */
  repository(s, secrets, ctx) {
    const path = folderOf(s, ctx).slice(1)
    // An expired placeholder access token: rclone renews it from the refresh token at once.
    const token = JSON.stringify({
      access_token: '',
      token_type: 'bearer',
      refresh_token: secrets.refreshToken ?? '',
      expiry: '2000-01-01T00:00:00Z',
    })
    return {
      repository: `rclone:dropbox:${path}`,
      env: {
        RCLONE_CONFIG_DROPBOX_TYPE: 'dropbox',
        RCLONE_CONFIG_DROPBOX_CLIENT_ID: s.appKey,
        RCLONE_CONFIG_DROPBOX_CLIENT_SECRET: secrets.appSecret ?? '',
        RCLONE_CONFIG_DROPBOX_TOKEN: token,
      },
      note:
        'Your Dropbox: you can restore from any computer with stock restic and rclone. ' +
        'restic has no Dropbox backend of its own; it reaches Dropbox through rclone (install rclone, https://rclone.org). ' +
        'The variables above define an rclone remote named “dropbox”; the same remote in rclone.conf is:\n' +
        '[dropbox]\ntype = dropbox\nclient_id = <app key>\nclient_secret = <app secret>\n' +
        'token = {"access_token":"","token_type":"bearer","refresh_token":"<refresh token>","expiry":"2000-01-01T00:00:00Z"}\n' +
        `Then: restic -r rclone:dropbox:${path} snapshots. ` +
        `Or serve it once and use restic's REST backend: rclone serve restic dropbox:${path} & restic -r rest:http://127.0.0.1:8080/ snapshots.`,
    }
  },
  /** Connect Dropbox: the OAuth code flow (PKCE) that stores the refresh token. */
  connect: {
    service: 'Dropbox',
    secret: 'refreshToken',
    authorizeUrl: (s, opts) => authorizeUrl(s.appKey, opts),
    async exchange(s, secrets, code, { redirectUri, codeVerifier, guard }) {
      const opts = { guard, codeVerifier }
      const { refreshToken } = await exchangeCode(
        s.appKey,
        secrets.appSecret ?? '',
        code,
        redirectUri,
        opts,
      )
      return refreshToken
    },
  },
})
