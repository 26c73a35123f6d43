import { createCipheriv, randomBytes } from 'node:crypto'
import { defineDriver, type DriverContext } from '../entry.ts'
import { lazyDriver } from '../lazy.ts'
import { baseUrl, capabilities, folderSegments, settings, type WebdavSettings } from './settings.ts'

/** The rclone remote the recovery kit defines (through RCLONE_CONFIG_* variables). */
// No dash: newer rclone keeps a dash of the remote name in its variable names, older ones do not.
const REMOTE = 'panelwebdav'
const ENV = 'RCLONE_CONFIG_PANELWEBDAV'

/** rclone's fixed, public key for `rclone obscure` (obscuring is not encryption). */
const OBSCURE_KEY = Buffer.from(
  '9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638',
  'hex',
)

/** What `rclone obscure` prints for `text`: the form rclone wants for passwords in its config. */
export function rcloneObscure(text: string, iv = randomBytes(16)): string {
  const cipher = createCipheriv('aes-256-ctr', OBSCURE_KEY, iv)
  return Buffer.concat([iv, cipher.update(text, 'utf8'), cipher.final()]).toString('base64url')
}

/** The tenant's folder below the URL: `<path>/<tenant>`, so tenants sharing a server never meet. */
const folderOf = (values: WebdavSettings, ctx: DriverContext) => [
  ...folderSegments(values.path),
  ctx.tenantName,
]

export const webdav = defineDriver({
  label: 'WebDAV',
  description:
    'A folder on a WebDAV server: Nextcloud, ownCloud, a NAS, or any server that speaks WebDAV.',
  settings,
  /** `<URL>/<path>/<tenant>`; folders are created on the first backup. The client loads then. */
  open(s, secrets, ctx) {
    return lazyDriver(capabilities, async () => {
      const { webdavDriver } = await import('./driver.ts')
      return webdavDriver({
        url: baseUrl(s.url),
        folder: folderOf(s, ctx),
        username: s.username,
        password: secrets.password ?? '',
        guard: ctx.guard,
      })
    })
  },
  /**
   * restic has no WebDAV backend: it reaches the repository through rclone (`rclone:` repository,
   * which runs `rclone serve restic --stdio`), with the remote defined by environment variables.
   */
  repository(s, secrets, ctx) {
    const url = baseUrl(s.url)
    const folder = folderOf(s, ctx).join('/')
    const env: Record<string, string> = {
      [`${ENV}_TYPE`]: 'webdav',
      [`${ENV}_URL`]: url,
      [`${ENV}_VENDOR`]: 'other',
    }
    if (s.username) env[`${ENV}_USER`] = s.username
    if (secrets.password) env[`${ENV}_PASS`] = rcloneObscure(secrets.password)
    const note = [
      'Your WebDAV storage: you can restore from any computer with stock restic and rclone.',
      `The repository is the WebDAV folder ${url}/${folder}. restic has no WebDAV support of its own, so install rclone (https://rclone.org) as well:`,
      `restic then starts “rclone serve restic” by itself, using the ${REMOTE} remote that the variables above define.`,
      `To keep the remote in rclone.conf instead, add these lines and run restic -r rclone:${REMOTE}:${folder}:`,
      `[${REMOTE}]`,
      'type = webdav',
      `url = ${url}`,
      'vendor = other',
      ...(s.username ? [`user = ${s.username}`] : []),
      ...(secrets.password ? ['pass = (the output of: rclone obscure YOUR-WEBDAV-PASSWORD)'] : []),
      'Or serve it yourself with rclone serve restic and point restic at that rest: address.',
    ].join('\n')
    return { repository: `rclone:${REMOTE}:${folder}`, env, note }
  },
})
