import type { Snapshot, TreeNode } from '../src/engine/restic/snapshots.ts'
import { INCOMPLETE_TAG } from '../src/db/snapshots.ts'
import { stamp, stampParts } from '../src/zoned.ts'

export { dayTime, safeZone, snapshotWhen } from '../src/zoned.ts'

/** A new folder name for restored files: `restored-2026-12-03-0930` (snapshot time, tenant zone). */
export function suggestedFolder(at: Date | string, zone: string): string {
  return `restored-${stamp(at, zone)}`
}

/** A new database name: `shop_restored_20261203`, cut to fit the 64-character limit. */
export function suggestedDatabase(name: string, at: Date | string, zone: string): string {
  const p = stampParts(at, zone)
  const suffix = `_restored_${p.year}${p.month}${p.day}`
  return name.slice(0, 64 - suffix.length) + suffix
}

/** Why a policy snapshot is not complete, in words; null when it is (or is no policy snapshot). */
export function incompleteReason(s: Snapshot): string | null {
  if (s.kind !== 'policy' || s.complete) return null
  return s.tags.includes(INCOMPLETE_TAG) ? 'a database dump failed' : 'some files could not be read'
}

export const engineLabel = (engine: string) =>
  engine === 'mariadb' ? 'MariaDB' : engine === 'postgresql' ? 'PostgreSQL' : engine

export const typeLabel: Record<TreeNode['type'], string> = {
  dir: 'Folder',
  file: 'File',
  symlink: 'Link',
  other: 'Other',
}

/** `path` as the tenant knows it: relative to their home ("Home folder" for the home itself). */
export function inHome(home: string, path: string): string {
  if (path === home) return 'Home folder'
  return path.startsWith(home + '/') ? path.slice(home.length + 1) : path
}

/** A small shape per node type (folder, file, link), so the type never rests on colour alone. */
export function TypeIcon(props: { type: TreeNode['type'] }) {
  const common = {
    class: `ico ico-${props.type}`,
    width: '16',
    height: '16',
    viewBox: '0 0 16 16',
    'aria-hidden': 'true',
  }
  if (props.type === 'dir')
    return (
      <svg {...common}>
        <path d="M1.5 3.5h4l1.5 1.5h7.5v8.5h-13z" fill="currentColor" />
      </svg>
    )
  if (props.type === 'symlink')
    return (
      <svg {...common}>
        <path
          d="M6.5 9.5l3-3M7 4.5l1.5-1.5a2.5 2.5 0 013.5 3.5L10.5 8M9 11.5L7.5 13a2.5 2.5 0 01-3.5-3.5L5.5 8"
          fill="none"
          stroke="currentColor"
          stroke-width="1.6"
          stroke-linecap="round"
        />
      </svg>
    )
  return (
    <svg {...common}>
      <path
        d="M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3"
        fill="none"
        stroke="currentColor"
        stroke-width="1.4"
        stroke-linejoin="round"
      />
    </svg>
  )
}
