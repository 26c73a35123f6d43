import { join } from 'node:path'
import { requireApacheDav, startApacheDav } from '../services/apache-dav.ts'
import { requireAzurite, startAzurite } from '../services/azurite.ts'
import { startDropboxFake } from '../services/dropbox-fake.ts'
import { requireS3rver, startS3rver } from '../services/s3rver.ts'
import { requireSshd, startSshd } from '../services/sshd.ts'

/** A started loopback server and how a tenant's destination form points at it. */
export type RemoteServer = {
  /** The form text of a destination whose repository lives in `folder` on this server. */
  settings(folder: string): Record<string, string>
  /** Environment the panel needs to reach this server (test-only endpoint overrides). */
  env?: Record<string, string>
  /** Stops the server and removes what it stored. */
  stop(): Promise<void>
}

/** One remote destination type the benchmark measures. */
export type RemoteKind = {
  /** The panel's destination type. */
  type: 's3' | 'sftp' | 'webdav' | 'dropbox' | 'azure'
  /** Short name: the row label and the destination name. */
  name: string
  /** The server behind it, for the row label. */
  server: string
  /** True when the server can run here; throws under CI=true, else warns (test/services). */
  available(): boolean
  start(): Promise<RemoteServer>
}

const BUCKET = 'bench'

/**
 * Every remote type, each against the loopback server its integration tests use, started the
 * same way (test/services/*).
 */
export const REMOTE_KINDS: readonly RemoteKind[] = [
  {
    type: 's3',
    name: 'S3',
    server: 's3rver',
    available: requireS3rver,
    async start() {
      const s3 = await startS3rver({ buckets: [BUCKET] })
      return {
        settings: (folder) => ({
          bucket: BUCKET,
          path: folder,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
          endpoint: s3.endpoint,
          endpointProtocol: 'http',
          pathStyle: 'on',
          region: 'us-east-1',
        }),
        stop: () => s3.stop(),
      }
    },
  },
  {
    type: 'sftp',
    name: 'SFTP',
    server: 'OpenSSH sshd',
    available: requireSshd,
    async start() {
      const ssh = await startSshd()
      return {
        settings: (folder) => ({
          host: ssh.host,
          port: String(ssh.port),
          user: ssh.user,
          password: ssh.password,
          path: join(ssh.home, folder),
        }),
        stop: () => ssh.stop(),
      }
    },
  },
  {
    type: 'webdav',
    name: 'WebDAV',
    server: 'Apache mod_dav',
    available: requireApacheDav,
    async start() {
      const dav = await startApacheDav()
      return {
        settings: (folder) => ({
          url: dav.url,
          path: folder,
          username: dav.username,
          password: dav.password,
        }),
        stop: () => dav.destroy(),
      }
    },
  },
  {
    type: 'dropbox',
    name: 'Dropbox',
    server: 'loopback fake',
    // The fake runs inside this process: nothing to install.
    available: () => true,
    async start() {
      // Dropbox pages list_folder results by the hundreds; the fake's default of 3 per page
      // exists to exercise cursors in tests and would time the fake, not the panel.
      const fake = await startDropboxFake({ pageSize: 500 })
      return {
        // The Connect Dropbox flow has its own tests; its result is this refresh token.
        settings: (folder) => ({
          appKey: fake.appKey,
          appSecret: fake.appSecret,
          refreshToken: fake.refreshToken,
          remotePath: `/${folder}`,
        }),
        env: { PANEL_DROPBOX_API_BASE: fake.url },
        stop: () => fake.close(),
      }
    },
  },
  {
    type: 'azure',
    name: 'Azure',
    server: 'Azurite',
    available: requireAzurite,
    async start() {
      const az = await startAzurite()
      await az.createContainer(BUCKET)
      return {
        settings: (folder) => ({
          accountName: az.account,
          accountKey: az.key,
          container: BUCKET,
          path: folder,
          endpoint: az.endpoint,
        }),
        stop: () => az.stop(),
      }
    },
  },
]

/**
 * Which remote types can run here: each with null, or why not. Under CI=true a missing server
 * throws (one error naming every missing one), as in the integration tests; otherwise each
 * missing one is announced loudly on stderr and its rows show why they were skipped.
 */
export function remoteAvailability(log: (msg: string) => void): Map<RemoteKind, string | null> {
  const out = new Map<RemoteKind, string | null>()
  const missing: string[] = []
  for (const kind of REMOTE_KINDS) {
    // The require* helpers explain themselves with console.warn; keep that text for the table.
    const warn = console.warn
    let said = ''
    console.warn = (...args: unknown[]) => void (said += args.join(' '))
    try {
      out.set(kind, kind.available() ? null : said.replace(/^\s*!!! SKIPPING [^:]*: /, '').trim())
    } catch (err) {
      missing.push(`${kind.name} (${kind.server}): ${(err as Error).message}`)
    } finally {
      console.warn = warn
    }
  }
  if (missing.length) {
    throw new Error(`bench: remote servers missing under CI=true:\n  ${missing.join('\n  ')}`)
  }
  for (const [kind, why] of out) {
    if (why) log(`!!! SKIPPING the ${kind.name} rows (${kind.server} is not available): ${why}`)
  }
  return out
}
