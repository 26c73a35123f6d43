import { Readable, Transform } from 'node:stream'
import { StorageError } from '../types.ts'

/**
 * `source` as a byte stream that fails (and tells `onBad`) unless it gives exactly `size`
 * bytes; the PUT then breaks off, so a short or long source never lands anywhere.
 */
export function exactly(
  source: Readable,
  size: number,
  onBad: (e: StorageError) => void,
): Readable {
  const bad = (e: StorageError) => (onBad(e), e)
  async function* counted() {
    const chunks = source[Symbol.asyncIterator]()
    let seen = 0
    try {
      for (;;) {
        let step: IteratorResult<Buffer | string>
        try {
          step = await chunks.next()
        } catch (err) {
          throw bad(new StorageError('Transient', 'the upload source failed', { cause: err }))
        }
        if (step.done) break
        const buf = typeof step.value === 'string' ? Buffer.from(step.value) : step.value
        seen += buf.length
        if (seen > size)
          throw bad(
            new StorageError('Transient', `expected ${size} bytes but the source gave more`),
          )
        try {
          yield buf
        } catch {
          return // the request broke off (the network, a cancel): not the source's fault
        }
      }
    } finally {
      await chunks.return?.() // stops and destroys the source
    }
    if (seen !== size)
      throw bad(new StorageError('Transient', `expected ${size} bytes but the source gave ${seen}`))
  }
  const body = Readable.from(counted(), { objectMode: false })
  // The PUT reports the failure; a late 'error' after it settled must not go unhandled.
  body.on('error', () => {})
  return body
}

/** Bytes [start, end) of a whole-object stream. */
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
