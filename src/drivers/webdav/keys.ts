import { StorageError } from '../types.ts'

/** In-flight puts: `.<name>.tmp-<hex>` beside the target. Never listed, never accepted as a key. */
export const TEMP = /^\..+\.tmp-[0-9a-f]+$/

export function invalid(key: string): StorageError {
  return new StorageError('BadConfig', `invalid object key ${JSON.stringify(key)}`)
}

/** A key's segments; BadConfig for anything that could leave the folder or hide as a temp file. */
export function segments(key: string): string[] {
  const parts = key.split('/')
  const bad = /[\0\\]/.test(key) || parts.some((p) => p === '' || p === '.' || p === '..')
  if (bad || TEMP.test(parts.at(-1)!)) throw invalid(key)
  return parts
}

export function isOffset(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0
}
