import type { Spec, SettingsOf } from '../spec.ts'

/** A Dropbox folder path: optional slashes around `/`-separated names, no `.` or `..`. */
export function remotePathProblem(path: string): string | undefined {
  if (path.length > 500) return 'Keep the remote path under 500 characters.'
  if (/[\u0000-\u001f\u007f\\]/.test(path))
    return 'The remote path may not contain control characters or backslashes.'
  const parts = path.replace(/^\/+|\/+$/g, '').split('/')
  if (parts.length === 1 && parts[0] === '') return undefined
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p !== p.trim())) {
    return 'Use folder names separated by single / (no “.”, “..”, or spaces around names).'
  }
  return undefined
}

function appKeyProblem(key: string): string | undefined {
  return /^[A-Za-z0-9_-]{4,100}$/.test(key)
    ? undefined
    : 'The app key is letters and digits only: copy it from your app’s Settings tab in the Dropbox App Console.'
}

export const settings = [
  {
    name: 'appKey',
    label: 'App key',
    type: 'text',
    required: true,
    placeholder: 'e.g. h1a2b3c4d5e6f7g',
    help: 'From your app in the Dropbox App Console (Settings tab). The app needs the permissions files.metadata.read/write and files.content.read/write.',
    check: appKeyProblem,
  },
  {
    name: 'appSecret',
    label: 'App secret',
    type: 'secret',
    required: true,
    help: 'Shown next to the app key in the App Console.',
  },
  {
    name: 'refreshToken',
    label: 'Refresh token',
    type: 'secret',
    advanced: true,
    help: 'Set by Connect Dropbox; you do not need to type it.',
  },
  {
    name: 'remotePath',
    label: 'Remote path',
    type: 'text',
    default: '/backups',
    placeholder: '/backups',
    help: 'Folder in Dropbox, created when missing. For an “App folder” app it is inside Apps/<app name>; for a “Full Dropbox” app it starts at your Dropbox root. Each account gets its own sub-folder.',
    check: remotePathProblem,
  },
] as const satisfies Spec

export type DropboxSettings = SettingsOf<typeof settings>

/** `/<remote path>/<tenant>`: the folder one tenant's repository lives in. */
export function rootOf(remotePath: string, tenantName: string): string {
  const base = remotePath.replace(/^\/+|\/+$/g, '')
  return `/${base ? `${base}/` : ''}${tenantName}`
}
