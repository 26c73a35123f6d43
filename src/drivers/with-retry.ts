import { finished } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { StorageError, type Driver } from './types.ts'

export type RetryOptions = {
  /** Further tries after the first; default 4. */
  retries?: number
  /** The first wait; each later wait doubles. Default 200 ms. */
  baseMs?: number
}

/**
 * Wraps `driver` so a call rejecting with a `Transient` StorageError is tried again, waiting
 * `baseMs × 2^attempt` ±50% (jitter spreads out clients that failed together). Permanent errors
 * and `NoSpace` are never retried, nor are non-StorageErrors (a bug, not weather), nor calls whose `signal`
 * has fired. A retried put calls `open()` again; when `open()` itself throws, the put stops
 * there (the source failed, not the storage). A get is retried only while opening: an error in
 * the middle of its stream is the caller's. A list that fails starts over and skips the keys it
 * already yielded.
 */
export function withRetry(
  driver: Driver,
  { retries = 4, baseMs = 200 }: RetryOptions = {},
): Driver {
  /** Waits before try `attempt + 1`, or rethrows `err` when there is to be none. */
  async function pause(err: unknown, attempt: number, signal?: AbortSignal) {
    const again = err instanceof StorageError && err.retryable && attempt < retries
    if (!again || signal?.aborted) throw err
    const ms = baseMs * 2 ** attempt
    await sleep(ms / 2 + Math.random() * ms, undefined, { signal }).catch(() => {
      throw err
    })
  }
  async function retry<T>(
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
    stop = () => false,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call()
      } catch (err) {
        if (stop()) throw err
        await pause(err, attempt, signal)
      }
    }
  }
  return {
    capabilities: driver.capabilities,
    put(key, open, opts) {
      let sourceFailed = false
      const reopen = () => {
        try {
          return open()
        } catch (err) {
          sourceFailed = true
          throw err
        }
      }
      // A source that cannot be re-opened (the bridge's one-shot request body) ends the retries.
      return retry(
        opts.signal,
        () => driver.put(key, reopen, opts),
        () => sourceFailed,
      )
    },
    get: (key, opts) => retry(opts?.signal, () => driver.get(key, opts)),
    stat: (key, opts) => retry(opts?.signal, () => driver.stat(key, opts)),
    remove: (key, opts) => retry(opts?.signal, () => driver.remove(key, opts)),
    async *list(prefix, opts) {
      const seen = new Set<string>()
      for (let attempt = 0; ; attempt++) {
        try {
          for await (const info of driver.list(prefix, opts)) {
            if (seen.has(info.key)) continue
            seen.add(info.key)
            yield info
          }
          return
        } catch (err) {
          await pause(err, attempt, opts?.signal)
        }
      }
    },
    close: async () => driver.close?.(),
  }
}

/**
 * Wraps `driver` so at most `n` calls run at once (see `capabilities.maxConnections`); the rest
 * wait in order, and a waiting call whose signal fires rejects `Transient`. A get holds its slot
 * until its stream ends, fails or is destroyed; a list until its iteration ends. Put the limit
 * inside the retry (`withRetry(withLimit(d, n))`) so a backoff wait holds no slot.
 */
export function withLimit(driver: Driver, n: number): Driver {
  let active = 0
  const waiting: Array<() => void> = []

  async function acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw cancelled(signal)
    if (active < n) active++
    else {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', quit)
          resolve()
        }
        const quit = () => {
          waiting.splice(waiting.indexOf(wake), 1)
          reject(cancelled(signal!))
        }
        waiting.push(wake)
        signal?.addEventListener('abort', quit, { once: true })
      })
    }
    let released = false
    return () => {
      if (released) return
      released = true
      // Hand the slot straight to the next waiter, so `active` never overshoots `n`.
      const next = waiting.shift()
      if (next) next()
      else active--
    }
  }
  async function limit<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const release = await acquire(signal)
    try {
      return await call()
    } finally {
      release()
    }
  }
  return {
    capabilities: driver.capabilities,
    put: (key, open, opts) => limit(opts.signal, () => driver.put(key, open, opts)),
    async get(key, opts) {
      const release = await acquire(opts?.signal)
      try {
        const stream = await driver.get(key, opts)
        finished(stream, release)
        return stream
      } catch (err) {
        release()
        throw err
      }
    },
    stat: (key, opts) => limit(opts?.signal, () => driver.stat(key, opts)),
    remove: (key, opts) => limit(opts?.signal, () => driver.remove(key, opts)),
    async *list(prefix, opts) {
      const release = await acquire(opts?.signal)
      try {
        yield* driver.list(prefix, opts)
      } finally {
        release()
      }
    },
    close: async () => driver.close?.(),
  }
}

function cancelled(signal: AbortSignal): StorageError {
  return new StorageError('Transient', 'the operation was cancelled', { cause: signal.reason })
}
