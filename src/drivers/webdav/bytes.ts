import { Readable } from 'node:stream'
import { counted, sourceFailed } from '../streams.ts'
import type { StorageError } from '../types.ts'

/**
 * `source` as a byte stream that fails (and tells `onBad`) unless it gives exactly `size`
 * bytes; the PUT then breaks off, so a short or long source never lands anywhere. The webdav
 * client reports only its own network error for a failed body, hence `onBad`.
 */
export function exactly(
  source: Readable,
  size: number,
  onBad: (e: StorageError) => void,
): Readable {
  const bad = (err: unknown) => {
    const e = sourceFailed(err)
    onBad(e)
    return e
  }
  async function* body() {
    const chunks = counted(source, size)
    try {
      for (;;) {
        let step: IteratorResult<Buffer>
        try {
          step = await chunks.next()
        } catch (err) {
          throw bad(err)
        }
        if (step.done) return
        try {
          yield step.value
        } catch {
          return // the request broke off (the network, a cancel): not the source's fault
        }
      }
    } finally {
      await chunks.return(undefined) // stops and destroys the source
    }
  }
  const stream = Readable.from(body(), { objectMode: false })
  // The PUT reports the failure; a late 'error' after it settled must not go unhandled.
  stream.on('error', () => {})
  return stream
}
