import type { SettingsOf, Spec } from '../spec.ts'
import type { Capabilities } from '../types.ts'

/** What an Azure driver guarantees: known before its implementation (and SDK) loads. */
export const capabilities: Capabilities = { atomicPut: true, rangeGet: true, maxConnections: 8 }

/** Storage account names: 3-24 lowercase letters and digits (Azure's own rule). */
export function accountProblem(name: string): string | undefined {
  if (!/^[a-z0-9]{3,24}$/.test(name))
    return 'Use the storage account name: 3 to 24 lowercase letters and digits.'
  return undefined
}

/** Container names: 3-63 of a-z, 0-9 and single dashes, starting and ending with a letter or digit. */
export function containerProblem(name: string): string | undefined {
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(name)) {
    return 'Use 3 to 63 lowercase letters, digits and single dashes, starting and ending with a letter or digit.'
  }
  return undefined
}

/** A folder prefix inside the container: no leading `/`, no empty, `.` or `..` segments. */
export function pathProblem(path: string): string | undefined {
  if (path.startsWith('/')) return 'Leave out the leading slash, e.g. backups/panel.'
  if (path.length > 512) return 'Keep the path under 512 characters.'
  const parts = path.replace(/\/+$/, '').split('/')
  if (parts.some((p) => p === '' || p === '.' || p === '..' || /[\\\0-\x1f]/.test(p))) {
    return 'Use folder names separated by single slashes, without . or .. or backslashes.'
  }
  return undefined
}

/** An http(s) URL without credentials, query or fragment (the SAS token has its own field). */
export function endpointProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'Enter a full URL, e.g. https://myaccount.blob.core.windows.net.'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return 'The endpoint must start with https:// (or http://).'
  if (url.username || url.password) return 'Leave user names and passwords out of the endpoint URL.'
  if (url.search || url.hash)
    return 'Leave the query (?…) out of the endpoint: put a SAS token in its own field.'
  return undefined
}

/** A SAS token is a query string carrying a signature (`sig=`); a leading `?` is fine. */
export function sasProblem(text: string): string | undefined {
  const params = new URLSearchParams(text.replace(/^\?/, ''))
  if (!params.get('sig'))
    return 'Paste the SAS token (the part after “?”, containing sig=…), not a URL or a key.'
  return undefined
}

/** An account key is base64 (Azure's are 88 characters). */
export function keyProblem(text: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    return 'Paste the account key exactly as the Azure portal shows it (base64, usually 88 characters).'
  }
  return undefined
}

export const settings = [
  {
    name: 'accountName',
    label: 'Storage account name',
    type: 'text',
    required: true,
    placeholder: 'mystorageaccount',
    help: 'The name of the Azure storage account (Storage accounts in the Azure portal).',
    check: accountProblem,
  },
  {
    name: 'accountKey',
    label: 'Account key',
    type: 'secret',
    help: 'Access keys → key1 or key2. Give either an account key or a SAS token, not both.',
    check: keyProblem,
  },
  {
    name: 'sasToken',
    label: 'SAS token',
    type: 'secret',
    help: 'A shared access signature for the Blob service with read, write, delete, list and create permissions on containers and objects. Use it instead of an account key.',
    check: sasProblem,
  },
  {
    name: 'container',
    label: 'Container',
    type: 'text',
    required: true,
    placeholder: 'backups',
    help: 'An existing container in the account.',
    check: containerProblem,
  },
  {
    name: 'path',
    label: 'Path',
    type: 'text',
    placeholder: 'panel/backups',
    help: 'Optional folder inside the container, without a leading slash. Each account’s backups go in a folder named after the account below it.',
    check: pathProblem,
  },
  {
    name: 'endpoint',
    label: 'Endpoint',
    type: 'text',
    advanced: true,
    placeholder: 'https://<account>.blob.core.windows.net',
    help: 'Only for other Azure clouds or compatible services. Stock restic can only reach the default endpoint directly; see the recovery kit.',
    check: endpointProblem,
  },
] as const satisfies Spec

export type AzureSettings = SettingsOf<typeof settings>
