import { randomBytes } from 'node:crypto'
import { chownSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { resticJson, runRestic, type ResticEnv } from './restic.ts'

/** One key (password slot) of a repository, as `restic key list --json` tells it. */
export type RepoKey = { id: string; current: boolean }

/** The repository's keys; `current` marks the one `env.password` opened. */
export async function listKeys(env: ResticEnv): Promise<RepoKey[]> {
  const raw = await resticJson<{ id?: unknown; current?: unknown }>(['key', 'list'], env)
  return raw
    .filter((k) => typeof k.id === 'string')
    .map((k) => ({ id: k.id as string, current: k.current === true }))
}

/** The key `env.password` opens; throws when restic names none. */
export async function currentKey(env: ResticEnv): Promise<string> {
  const found = (await listKeys(env)).find((k) => k.current)
  if (!found) throw new Error('restic did not say which key opens the repository.')
  return found.id
}

/**
 * Adds a key for `password` (opened with `env.password`). restic reads the new password from a
 * file: it is written 0600 into `work` (the tenant's work folder, owned by the user restic runs
 * as) and removed whatever happens, so it never appears in a process list or environment.
 */
export async function addKey(env: ResticEnv, password: string, work: string): Promise<void> {
  const file = join(work, `new-key-${randomBytes(6).toString('hex')}`)
  try {
    writeFileSync(file, password, { mode: 0o600, flag: 'wx' })
    if (env.runAs) chownSync(file, env.runAs.uid, env.runAs.gid)
    await runRestic(['key', 'add', '--new-password-file', file, '--host', 'panel'], env)
  } finally {
    rmSync(file, { force: true })
  }
}

/** Removes the key `id` (restic refuses to remove the key `env.password` opened). */
export async function removeKey(env: ResticEnv, id: string): Promise<void> {
  await runRestic(['key', 'remove', id], env)
}
