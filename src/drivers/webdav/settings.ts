import type { SettingsOf, Spec } from '../spec.ts'
import type { Capabilities } from '../types.ts'

/** What an WebDAV driver guarantees: known before its implementation (and SDK) loads. */
export const capabilities: Capabilities = { atomicPut: true, rangeGet: true, maxConnections: 4 }

/** An http(s) address without credentials, query or fragment; else a sentence saying why not. */
export function urlProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'Enter the full address, such as https://dav.example.com/remote.php/dav/files/me.'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return 'The address must start with https:// (or http://).'
  }
  if (url.username || url.password) {
    return 'Put the user name and password in their own fields, not in the address.'
  }
  if (url.search || url.hash) return 'Leave ?… and #… out of the address.'
  return undefined
}

/** A folder path as the server's file browser shows it: `/`-separated, no `.` or `..`. */
export function pathProblem(text: string): string | undefined {
  if (text.length > 500) return 'Keep the folder under 500 characters.'
  if (/[\u0000-\u001f\u007f]/.test(text)) return 'The folder cannot contain control characters.'
  if (text.includes('\\')) return 'Use / between folders, not \\.'
  if (folderSegments(text).some((s) => s === '.' || s === '..')) {
    return 'Leave . and .. out of the folder: give the path from the address down.'
  }
  return undefined
}

/** The folder's segments, leading, trailing and doubled slashes ignored. */
export function folderSegments(path: string): string[] {
  return path.split('/').filter(Boolean)
}

/** The address with trailing slashes removed, so paths join onto it cleanly. */
export function baseUrl(url: string): string {
  return url.replace(/\/+$/, '')
}

export const settings = [
  {
    name: 'url',
    label: 'URL',
    type: 'text',
    required: true,
    placeholder: 'https://dav.example.com/remote.php/dav/files/me',
    help: 'The WebDAV address of a folder you may write to (Nextcloud and ownCloud show it under Files → Settings → WebDAV). Use https: over http the password crosses the network readable. Redirects are not followed: give the final address.',
    check: urlProblem,
  },
  {
    name: 'path',
    label: 'Folder',
    type: 'text',
    default: 'backups',
    placeholder: 'backups',
    help: 'A folder under the URL for your backups, such as backups or my/backups. It is created when missing.',
    check: pathProblem,
  },
  {
    name: 'username',
    label: 'User name',
    type: 'text',
    help: 'Leave blank only if the server asks for no sign-in.',
  },
  {
    name: 'password',
    label: 'Password',
    type: 'secret',
    secret: true,
    help: 'With two-factor sign-in (Nextcloud, ownCloud), create an app password for this.',
  },
] as const satisfies Spec

export type WebdavSettings = SettingsOf<typeof settings>
