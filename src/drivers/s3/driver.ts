import { Readable, addAbortSignal } from 'node:stream'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3'
import type { GuardPolicy } from '../guard.ts'
import { isKey, keySegments, prefixFolder } from '../keys.ts'
import { byteRange, rangeHeader } from '../streams.ts'
import { StorageError, type Driver } from '../types.ts'
import { connect, endpointOf } from './client.ts'
import { classify } from './errors.ts'
import { exactly } from './range.ts'
import { capabilities, type S3Secrets, type S3Settings } from './settings.ts'
import { uploadObject } from './upload.ts'

const MiB = 1 << 20
/** The part size when none is set (minio's and restic's choice). */
export const DEFAULT_PART = 16 * MiB
const MIN_PART = 5 * MiB

/**
 * The part size for an object of `size` bytes: the setting (else 16 MiB), raised in whole MiB
 * so the object needs at most `limit` parts, and never under S3's 5 MiB minimum. Objects no
 * larger than one part go up in a single PutObject.
 */
export function partSizeFor(size: number, settingMb: number | null, limit: number): number {
  const needed = Math.ceil(size / limit / MiB) * MiB
  return Math.max(MIN_PART, settingMb ? settingMb * MiB : DEFAULT_PART, needed)
}

/**
 * Objects under `base` (`<path>/<tenant>/`) in the settings' bucket. The client is built on first
 * use (see `connect`: guard checks, CA file), so `open` never fails or blocks.
 *
 * Puts stream and are atomic, as S3 makes them (see `uploadObject`): one PutObject for an object
 * up to one part, else a multipart upload that only becomes visible when completed. Every call
 * takes `signal`; cancelling rejects `Transient`.
 */
export function s3Driver(
  s: S3Settings,
  secrets: S3Secrets,
  guard: GuardPolicy,
  base: string,
): Driver {
  const Bucket = s.bucket
  const where = { bucket: s.bucket, host: endpointOf(s).host }
  const limit = Number(s.partLimit) || 10_000
  const StorageClass =
    s.storageClass && s.storageClass !== 'STANDARD' ? (s.storageClass as StorageClass) : undefined
  let client: Promise<S3Client> | undefined
  const ready = () =>
    (client ??= connect(s, secrets, guard).catch((err) => {
      client = undefined // a later call tries again (the guard's allowlist may have changed)
      throw err
    }))
  const fail = (err: unknown, signal?: AbortSignal) =>
    signal?.aborted && !(err instanceof StorageError && err.code !== 'Transient')
      ? new StorageError('Transient', 'the operation was cancelled', { cause: err })
      : classify(err, where)
  const head = async (c: S3Client, Key: string, signal?: AbortSignal) =>
    c.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal: signal })

  return {
    capabilities,

    async put(key, openSource, { size, signal }) {
      let source: Readable | undefined
      try {
        const Key = base + checkKey(key)
        if (!Number.isSafeInteger(size) || size < 0)
          throw new StorageError('BadConfig', 'invalid object size')
        signal?.throwIfAborted()
        const c = await ready()
        const partSize = partSizeFor(size, s.partSizeMb, limit)
        source = openSource()
        await uploadObject(c, { Bucket, Key, StorageClass }, source, size, partSize, signal)
      } catch (err) {
        // A failed upload stops reading mid-way: release the source (for the bridge, the
        // request), or its sender would wait on a body nobody reads.
        source?.destroy()
        throw fail(err, signal)
      }
    },

    async get(key, { range, signal } = {}) {
      try {
        const Key = base + checkKey(key)
        const bytes = byteRange(range)
        const { start, end } = bytes
        signal?.throwIfAborted()
        const c = await ready()
        if (bytes.empty) {
          await head(c, Key, signal)
          return Readable.from([])
        }
        const Range = rangeHeader(bytes)
        // The signal cancels the request only until the answer starts: from then on it destroys
        // the body stream with an AbortError, as callers expect, instead of a connection error.
        const untilHeaders = new AbortController()
        const cancel = () => untilHeaders.abort(signal?.reason)
        signal?.addEventListener('abort', cancel, { once: true })
        let body: Readable
        try {
          const res = await c.send(new GetObjectCommand({ Bucket, Key, Range }), {
            abortSignal: untilHeaders.signal,
          })
          body = res.Body as Readable
          if (Range) body = exactly(body, start, end, res.ContentRange, res.ContentLength)
        } catch (err) {
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata
            ?.httpStatusCode
          if (status !== 416) throw err
          return Readable.from([]) // start at or past the end of an object that exists
        } finally {
          signal?.removeEventListener('abort', cancel)
        }
        return signal ? addAbortSignal(signal, body) : body
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async *list(prefix, { signal } = {}) {
      let c: S3Client
      try {
        prefixFolder(prefix)
        signal?.throwIfAborted()
        c = await ready()
      } catch (err) {
        throw fail(err, signal)
      }
      let token: string | undefined
      do {
        let page
        try {
          const cmd = new ListObjectsV2Command({
            Bucket,
            Prefix: base + prefix,
            ContinuationToken: token,
          })
          page = await c.send(cmd, { abortSignal: signal })
        } catch (err) {
          throw fail(err, signal)
        }
        for (const o of page.Contents ?? []) {
          const key = o.Key?.startsWith(base) ? o.Key.slice(base.length) : undefined
          // Folder markers and keys other tools wrote that no driver call could name are skipped.
          if (key !== undefined && isKey(key)) yield { key, size: o.Size ?? 0 }
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    },

    async stat(key, { signal } = {}) {
      try {
        const Key = base + checkKey(key)
        signal?.throwIfAborted()
        const res = await head(await ready(), Key, signal)
        return { key, size: res.ContentLength ?? 0 }
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async remove(key, { signal } = {}) {
      try {
        const Key = base + checkKey(key)
        signal?.throwIfAborted()
        const c = await ready()
        await c.send(new DeleteObjectCommand({ Bucket, Key }), { abortSignal: signal })
      } catch (err) {
        const e = fail(err, signal)
        if (e.code !== 'NotFound') throw e
      }
    },

    async close() {
      const c = await client?.catch(() => undefined)
      c?.destroy()
    },
  }
}

/** The key itself; BadConfig for anything that could leave the base prefix or name a folder. */
function checkKey(key: string): string {
  keySegments(key)
  return key
}
