import { StorageError, type Capabilities, type Driver } from './types.ts'

/**
 * A driver whose implementation is loaded at its first call: `load` dynamically imports the
 * module that imports the cloud SDK, so a process that never talks to such a destination (the
 * CLI, the pages) never loads it. `open` stays synchronous and `capabilities` are known up front.
 *
 * A `load` that fails rejects that call (a non-StorageError as `Transient`) and the next call
 * tries again. `close` closes the implementation only if it was loaded.
 */
export function lazyDriver(capabilities: Capabilities, load: () => Promise<Driver>): Driver {
  let loaded: Promise<Driver> | undefined
  const ready = () =>
    (loaded ??= load().catch((err: unknown) => {
      loaded = undefined
      throw err instanceof StorageError
        ? err
        : new StorageError('Transient', `the driver could not be loaded: ${String(err)}`, {
            cause: err,
          })
    }))
  return {
    capabilities,
    put: async (key, open, opts) => (await ready()).put(key, open, opts),
    get: async (key, opts) => (await ready()).get(key, opts),
    async *list(prefix, opts) {
      yield* (await ready()).list(prefix, opts)
    },
    stat: async (key, opts) => (await ready()).stat(key, opts),
    remove: async (key, opts) => (await ready()).remove(key, opts),
    async close() {
      const driver = await loaded?.catch(() => undefined)
      await driver?.close?.()
    },
  }
}
