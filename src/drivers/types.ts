import type { Readable } from 'node:stream'

/**
 * The closed set of storage errors. `NotFound`, `AuthFailed` and `BadConfig` are permanent
 * (retrying does not help); `NoSpace` (the destination's disk or quota is full) is transient
 * but never retried within an attempt: space is freed between attempts, not between requests;
 * `Transient` is the default for anything unclassified.
 */
export const STORAGE_ERROR_CODES = [
  'NotFound',
  'AuthFailed',
  'BadConfig',
  'NoSpace',
  'Transient',
] as const

export type StorageErrorCode = (typeof STORAGE_ERROR_CODES)[number]

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'StorageError'
  }

  /** Retrying later cannot help: the settings or the data must change first. */
  get permanent(): boolean {
    return this.code === 'NotFound' || this.code === 'AuthFailed' || this.code === 'BadConfig'
  }

  /** Worth trying again within the same attempt (only `Transient`). */
  get retryable(): boolean {
    return this.code === 'Transient'
  }
}

export type Capabilities = {
  /** A put is all-or-nothing: readers never see a partial object. */
  atomicPut: boolean
  rangeGet: boolean
  /** Concurrent requests the destination tolerates. */
  maxConnections: number
}

export type ObjectInfo = { key: string; size: number }

/**
 * A destination's object store. Keys are relative, slash-separated, never start with `/` and
 * never contain `.` or `..` segments. All methods reject with a `StorageError`.
 */
export interface Driver {
  readonly capabilities: Capabilities
  /**
   * Stores `size` bytes read from `open()` under `key`, replacing any object there. `open` is a
   * factory so a retry can re-read the source from the start.
   */
  put(
    key: string,
    open: () => Readable,
    opts: { size: number; signal?: AbortSignal },
  ): Promise<void>
  /**
   * Streams an object, or the inclusive-exclusive byte range `[start, end)` of it (`end`
   * omitted: to the end). Rejects `NotFound` for a missing key.
   */
  get(
    key: string,
    opts?: { range?: { start: number; end?: number }; signal?: AbortSignal },
  ): Promise<Readable>
  /** Every object whose key starts with `prefix` (a folder prefix ends with `/`), any order. */
  list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>
  /** Size of an object; rejects `NotFound` when missing. */
  stat(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo>
  /** Removes an object. Removing a missing key resolves. */
  remove(key: string, opts?: { signal?: AbortSignal }): Promise<void>
  /** Releases connections; the driver is not used afterwards. */
  close?(): Promise<void>
}
