import { posix } from 'node:path'

/** Tenant and system-user names: they end up in paths and process arguments, so keep them dull. */
export const TENANT_NAME = /^[a-z][a-z0-9_-]{1,31}$/

export function tenantNameProblem(name: string): string | undefined {
  if (!TENANT_NAME.test(name)) {
    return 'Use 2-32 characters: lowercase letters, digits, - and _, starting with a letter.'
  }
  return undefined
}

export function systemUserProblem(name: string): string | undefined {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
    return 'A system user name is 1-32 characters: lowercase letters, digits, - and _.'
  }
  return undefined
}

/** An absolute, already-normal directory path that is not `/` itself. */
export function homeDirProblem(dir: string): string | undefined {
  if (!dir.startsWith('/')) return 'Use an absolute path, like /home/alice.'
  if (/[\0\n\r]/.test(dir)) return 'The path contains a character that is not allowed.'
  const normal = posix.normalize(dir).replace(/\/+$/, '')
  if (normal !== dir.replace(/\/+$/, '') || dir.split('/').includes('..')) {
    return 'Write the path without “..”, “.” or doubled slashes.'
  }
  if (normal === '') return 'The home directory cannot be / itself.'
  return undefined
}

/**
 * Database names: they reach SQL text and tool arguments, so no quotes, dots, slashes, spaces,
 * '=' or a leading '-'.
 */
export const DATABASE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_$-]{0,63}$/

export function databaseNameProblem(name: string): string | undefined {
  if (!DATABASE_NAME.test(name)) {
    return 'Use 1-64 characters: letters, digits, _, $ and -.'
  }
  return undefined
}

/** A display name for destinations and policies: short, printable, single line. */
export function labelProblem(label: string, what: string): string | undefined {
  if (!label) return `${what} is required.`
  if (label.length > 64) return `${what} must be at most 64 characters.`
  if (/[\0-\x1f\x7f]/.test(label)) return `${what} cannot contain control characters.`
  return undefined
}

/** A hosting plan (tenant group) name: what the admin's billing calls it, e.g. "business-2". */
/** A hosting node's name, as `panel runner --node` takes it: a host name's letters. */
export function nodeProblem(node: string): string | undefined {
  if (!/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/.test(node)) {
    return 'Use 1-63 characters: lower-case letters, digits, dot and -, as in a host name (web1).'
  }
  return undefined
}

export function planProblem(plan: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$/.test(plan)) {
    return 'Use 1-40 characters: letters, digits, space, dot, - and _.'
  }
  return undefined
}
