import type { Spec } from '../spec.ts'

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** A relative folder under the tenant's share of the local backup root; no `..`, no leading `/`. */
export function folderProblem(folder: string): string | undefined {
  if (folder.length > 200) return 'Keep the folder under 200 characters.'
  const parts = folder.replace(/\/+$/, '').split('/')
  if (parts.some((p) => !SEGMENT.test(p))) {
    return 'Use letters, digits, dot, dash and underscore, with / between sub-folders (no leading / or ..).'
  }
  return undefined
}

export const settings = [
  {
    name: 'folder',
    label: 'Folder',
    type: 'text',
    required: true,
    default: 'backups',
    placeholder: 'backups',
    help: 'A folder on this server, inside the backup storage the administrator set aside for each account.',
    check: folderProblem,
  },
] as const satisfies Spec
