import { spawnSync } from 'node:child_process'
import { drivers, type Registry } from '../../src/drivers/registry.ts'
import { StorageError, type Driver } from '../../src/drivers/types.ts'
import { which } from '../services/process.ts'

/**
 * True when every binary is installed. When one is not: throws if CI=true (a missing tool is a
 * failure there), else warns loudly and returns false, for `describe.runIf()`.
 */
export function requireBinaries(names: string[], install: string): boolean {
  const missing = names.filter((b) => !which(b))
  if (!missing.length) return true
  const why = `these tests need ${missing.join(', ')} (${install})`
  if (process.env.CI === 'true') throw new Error(`${why}; a missing tool fails in CI.`)
  console.warn(`\n!!! SKIPPING: ${why}.\n`)
  return false
}

/** Stock restic against a repository folder, as someone holding only `password` would run it. */
export function stockRestic(repository: string, password: string, args: string[]) {
  const res = spawnSync('restic', [...args, '--no-cache'], {
    env: { PATH: process.env.PATH, RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: password },
    encoding: 'utf8',
  })
  return { ok: res.status === 0, stdout: res.stdout, stderr: res.stderr }
}

/** Which writes to the repository's `keys/` folder the faulty Local driver refuses. */
export const keyFaults = { put: false, remove: false }

const refused = () =>
  Promise.reject(new StorageError('BadConfig', 'Injected fault: the destination refused the key.'))

function faulty(d: Driver): Driver {
  return {
    capabilities: d.capabilities,
    put: (key, open, o) =>
      keyFaults.put && key.startsWith('keys/') ? refused() : d.put(key, open, o),
    get: (key, o) => d.get(key, o),
    list: (prefix, o) => d.list(prefix, o),
    stat: (key, o) => d.stat(key, o),
    remove: (key, o) =>
      keyFaults.remove && key.startsWith('keys/') ? refused() : d.remove(key, o),
    close: d.close?.bind(d),
  }
}

/** The real registry, its Local driver refusing key writes while `keyFaults` says so. */
export const faultyKeyDrivers: Registry = {
  ...drivers,
  local: {
    ...drivers.local,
    open: (s, secrets, ctx) => faulty(drivers.local.open(s, secrets, ctx)),
  },
}
