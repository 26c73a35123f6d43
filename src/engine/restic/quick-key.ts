import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import type { Driver } from '../../drivers/types.ts'
import { QUICK_KDF, openKeyFile, sealKeyFile, type KeyFile } from './key-file.ts'
import { resticJson, type ResticEnv } from './restic.ts'

/** At most this many key files are tried: restic itself gives up after 20. */
const MAX_KEYS = 5

/**
 * Gives a repository whose password the panel generated (a random secret of 192 bits) a key file
 * with a cheap scrypt cost (QUICK_KDF). restic derives the key at every start: at its default
 * cost that is about half a second per process, and it protects nothing when the password is
 * random. Stock restic opens the new key with the same password (the recovery kit is unchanged),
 * since the cost is stored in the key file itself. Never for a password a person chose.
 *
 * Safe at every step: the new key is written beside the old one, restic is asked to open the
 * repository with it (`--key-hint`, `key list` says which key opened it), and only then is the
 * old key removed; killed half-way, both keys work. Resolves true when the repository has a
 * quick key (made now or before), false when nothing was changed.
 */
export async function quickenKey(driver: Driver, env: ResticEnv): Promise<boolean> {
  const ids: string[] = []
  for await (const o of driver.list('keys/', { signal: env.signal })) ids.push(o.key.slice(5))
  const files: { id: string; file: KeyFile }[] = []
  for (const id of ids.slice(0, MAX_KEYS)) {
    const bytes = await buffer(await driver.get(`keys/${id}`, { signal: env.signal }))
    files.push({ id, file: JSON.parse(bytes.toString('utf8')) as KeyFile })
  }
  let old: { id: string; file: KeyFile; master: Buffer } | null = null
  for (const { id, file } of files) {
    const master = await openKeyFile(file, env.password).catch(() => null)
    if (!master) continue
    if (file.N <= QUICK_KDF.N && file.r <= QUICK_KDF.r && file.p <= QUICK_KDF.p) return true
    old = { id, file, master }
    break
  }
  if (!old) return false
  const made = await sealKeyFile(old.master, env.password, old.file)
  await driver.put(`keys/${made.id}`, () => Readable.from([made.bytes]), {
    size: made.bytes.length,
    signal: env.signal,
  })
  const listed = await resticJson<{ current: boolean; id: string }>(
    ['key', 'list', '--key-hint', made.id],
    env,
  ).catch(() => [])
  const opened = listed.find((k) => k.current)?.id ?? ''
  if (!opened || !made.id.startsWith(opened)) {
    await driver.remove(`keys/${made.id}`, { signal: env.signal })
    return false
  }
  await driver.remove(`keys/${old.id}`, { signal: env.signal })
  return true
}
