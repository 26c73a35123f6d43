import { Readable, Transform, addAbortSignal } from 'node:stream'
import { StorageError } from './types.ts'

/** A get's byte range, checked: `[start, end)`, `end` undefined meaning "to the end". */
export type ByteRange = { start: number; end: number | undefined; empty: boolean }

const isOffset = (n: number) => Number.isSafeInteger(n) && n >= 0

/**
 * `range` as a get takes it (`start` defaults to 0), or BadConfig `invalid byte range` unless
 * both offsets are safe non-negative integers. `empty` when it holds no byte (`end <= start`):
 * the driver answers an empty stream once it knows the object exists.
 */
export function byteRange(range?: { start: number; end?: number }): ByteRange {
  const start = range?.start ?? 0
  const end = range?.end
  if (!isOffset(start) || (end !== undefined && !isOffset(end))) {
    throw new StorageError('BadConfig', 'invalid byte range')
  }
  return { start, end, empty: end !== undefined && end <= start }
}

/** The HTTP `Range` header for a range (inclusive end), or undefined for the whole object. */
export function rangeHeader({ start, end }: ByteRange): string | undefined {
  if (start === 0 && end === undefined) return undefined
  return `bytes=${start}-${end === undefined ? '' : end - 1}`
}

/** Bytes `[start, end)` of a whole-object stream (a server that ignored the Range header). */
export function slice(start: number, end?: number): Transform {
  let pos = 0
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const from = Math.max(start - pos, 0)
      const to = end === undefined ? chunk.length : Math.min(end - pos, chunk.length)
      pos += chunk.length
      done(null, to > from ? chunk.subarray(from, to) : undefined)
    },
  })
}

const asBuffer = (chunk: string | Uint8Array): Buffer =>
  typeof chunk === 'string'
    ? Buffer.from(chunk)
    : Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)

/**
 * An upload's source broke off (say, a dropped upload to the bridge): Transient `the upload
 * source failed`, so the destination is not blamed for it. A StorageError passes through.
 */
export function sourceFailed(err: unknown): StorageError {
  if (err instanceof StorageError) return err
  return new StorageError('Transient', 'the upload source failed', { cause: err })
}

/** Counts an upload's bytes: `add` throws once they pass `size`, `end` unless they equal it. */
function tally(size: number) {
  let seen = 0
  return {
    add(n: number) {
      seen += n
      if (seen > size)
        throw new StorageError('Transient', `expected ${size} bytes but the source gave more`)
    },
    end() {
      if (seen !== size)
        throw new StorageError('Transient', `expected ${size} bytes but the source gave ${seen}`)
    },
  }
}

/**
 * An upload's source as Buffers, counted against `size`: Transient `expected N bytes but the
 * source gave …` as soon as it gives more, or at its end when it gave fewer. The source
 * breaking off is `sourceFailed`; a cancel's AbortError passes through. `signal` aborts the
 * source.
 */
export async function* counted(
  source: Readable,
  size: number,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  if (signal) addAbortSignal(signal, source)
  const bytes = tally(size)
  try {
    for await (const chunk of source) {
      const buf = asBuffer(chunk)
      bytes.add(buf.length)
      yield buf
    }
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err
    throw sourceFailed(err)
  }
  bytes.end()
}

/**
 * `counted` as a pipeline step: fails the pipeline (Transient) as soon as more than `size`
 * bytes pass, or at the end when fewer did. Source errors are the caller's to word.
 */
export function counter(size: number): Transform {
  const bytes = tally(size)
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        bytes.add(chunk.length)
      } catch (err) {
        return done(err as Error)
      }
      done(null, chunk)
    },
    flush(done) {
      try {
        bytes.end()
      } catch (err) {
        return done(err as Error)
      }
      done()
    },
  })
}

/**
 * `counted(source, size)` cut into Buffers of `chunkSize`. The last one (shorter, or the only
 * one: empty for size 0) comes only after the source ended with exactly `size` bytes, so an
 * upload committed with its last chunk never commits a short or long source.
 */
export async function* chunked(
  source: Readable,
  size: number,
  chunkSize: number,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = []
  let have = 0
  let sent = 0
  for await (let buf of counted(source, size, signal)) {
    while (buf.length) {
      const take = Math.min(chunkSize - have, buf.length)
      parts.push(buf.subarray(0, take))
      have += take
      buf = buf.subarray(take)
      if (have === chunkSize && sent + chunkSize < size) {
        yield Buffer.concat(parts, have)
        sent += have
        parts = []
        have = 0
      }
    }
  }
  yield Buffer.concat(parts, have)
}

/**
 * `counted(source, size)` as consecutive streams of `partSize` bytes (the last one shorter, or
 * one empty stream for size 0), for uploads that stream each part instead of buffering it. Read
 * each part to its end before taking the next. The last part's last bytes are held back until
 * the source has ended with exactly `size` bytes, so a short or long source fails that part's
 * request before it completes: an upload never commits one.
 */
export async function* parts(
  source: Readable,
  size: number,
  partSize: number,
  signal?: AbortSignal,
): AsyncGenerator<{ body: Readable; length: number }> {
  const bytes = counted(source, size, signal)
  let rest: Buffer | undefined
  async function* take(length: number, last: boolean): AsyncGenerator<Buffer> {
    let left = length
    while (left > 0) {
      let buf = rest
      rest = undefined
      if (!buf) {
        const next = await bytes.next()
        if (next.done) return // unreachable: counted throws for a short source
        buf = next.value
      }
      if (buf.length > left) {
        rest = buf.subarray(left)
        buf = buf.subarray(0, left)
      }
      left -= buf.length
      // counted checks the total at the source's end (and throws on more before yielding it).
      if (left === 0 && last) await bytes.next()
      yield buf
    }
    if (length === 0) await bytes.next()
  }
  for (let offset = 0; ; offset += partSize) {
    const length = Math.min(partSize, size - offset)
    const last = offset + length >= size
    yield { body: Readable.from(take(length, last), { objectMode: false }), length }
    if (last) return
  }
}
