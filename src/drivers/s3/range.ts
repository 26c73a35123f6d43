import { Readable } from 'node:stream'
import { StorageError } from '../types.ts'

/**
 * `body` cut to exactly [start, end) when the server answered more than asked: some ignore
 * Range and send the whole object (no Content-Range), some mishandle `bytes=0-0`.
 */
export function exactly(
  body: Readable,
  start: number,
  end: number | undefined,
  contentRange?: string,
  length?: number,
): Readable {
  const from = contentRange ? Number(/^bytes (\d+)-/.exec(contentRange)?.[1]) : 0
  const want = end === undefined ? undefined : end - start
  if (from === start && (want === undefined || (length !== undefined && length <= want)))
    return body
  if (!(from <= start)) {
    body.destroy()
    throw new StorageError(
      'Transient',
      'the storage server answered a different byte range than asked',
    )
  }
  return Readable.from(
    (async function* () {
      let skip = start - from
      let left = want ?? Infinity
      for await (const chunk of body) {
        let buf = (chunk as Buffer).subarray(Math.min(skip, (chunk as Buffer).length))
        skip -= (chunk as Buffer).length - buf.length
        if (buf.length > left) buf = buf.subarray(0, left)
        left -= buf.length
        if (buf.length) yield buf
        if (left === 0) return // leaving the loop destroys the rest of the download
      }
    })(),
  )
}
