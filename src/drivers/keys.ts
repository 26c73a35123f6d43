import { StorageError } from './types.ts'

/**
 * A put in flight as a temp file beside its target, `.<name>.tmp-<hex>` (drivers that store
 * files: local, SFTP, WebDAV). Never listed, never accepted as a key.
 */
export const TEMP = /^\..+\.tmp-[0-9a-f]+$/

/** What a destination refuses beyond the Driver contract's own rule. */
export type KeyRules = {
  /** Refuse a last segment shaped like a temp file (drivers that write one beside the target). */
  temp?: boolean
  /** Characters the store would read as something else (WebDAV: `\`). */
  forbidden?: RegExp
  /** The longest key the store takes (Azure: a blob name, prefix included, is at most 1,024). */
  maxLength?: number
}

export function invalidKey(key: string): StorageError {
  return new StorageError('BadConfig', `invalid object key ${JSON.stringify(key)}`)
}

/**
 * Whether `key` is one a driver call may name (see Driver in types.ts): relative, `/`-separated,
 * no empty, `.` or `..` segment, no NUL, and nothing `rules` refuses. Keys other tools wrote
 * into a destination can fail this; listings skip those.
 */
export function isKey(key: string, rules: KeyRules = {}): boolean {
  const parts = key.split('/')
  return !(
    key.includes('\0') ||
    rules.forbidden?.test(key) ||
    (rules.maxLength !== undefined && key.length > rules.maxLength) ||
    parts.some((p) => p === '' || p === '.' || p === '..') ||
    (rules.temp && TEMP.test(parts.at(-1)!))
  )
}

/** The segments of `key`; BadConfig for anything that could leave the driver's root. */
export function keySegments(key: string, rules?: KeyRules): string[] {
  if (!isKey(key, rules)) throw invalidKey(key)
  return key.split('/')
}

/**
 * The folder part of a list prefix (`a/b/` of `a/b/c`; `''` when it has no `/`), after checking
 * that it names a folder a key could be in; its last, partial segment may be anything but hold
 * a NUL or a forbidden character. BadConfig otherwise (`/`, `../`, `a//`).
 */
export function prefixFolder(prefix: string, rules: KeyRules = {}): string {
  const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1)
  const bad =
    prefix.includes('\0') ||
    rules.forbidden?.test(prefix) ||
    (folder !== '' && !isKey(folder.slice(0, -1), rules))
  if (bad) throw new StorageError('BadConfig', `invalid list prefix ${JSON.stringify(prefix)}`)
  return folder
}
