import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { BlockBlobClient } from '@azure/storage-blob'
import { parts } from '../streams.ts'

/** Block size: a restic pack (~16 MiB) is four blocks; objects up to this size are one Put Blob. */
export const BLOCK_SIZE = 4 << 20

/**
 * Uploads exactly `size` bytes of `source` as a block blob, all or nothing, streaming: up to
 * BLOCK_SIZE in one Put Blob, larger objects as blocks staged one after another and committed
 * by one Put Block List at the end. Each request streams its part with its Content-Length, so
 * memory stays at a few stream buffers per upload (buffered blocks cost three blocks each).
 * Until the commit nothing is visible (uncommitted blocks are not listed and Azure discards
 * them after a week), and the last bytes go out only once the source proved it held exactly
 * `size` (see `parts`), so a failed, short, long or cancelled upload leaves no object and an
 * overwritten object stays as it was.
 *
 * `blob` must not retry (its pipeline has maxTries 1): a streamed body cannot be re-read, so
 * retrying is `withRetry`'s job or, through the bridge, restic's. Not the SDK's `uploadStream`:
 * it does not pass the abort signal to its block requests and cannot count the bytes against
 * `size`; this does both, and a failing source stops the request it feeds.
 */
export async function uploadBlob(
  blob: BlockBlobClient,
  source: Readable,
  size: number,
  signal?: AbortSignal,
): Promise<void> {
  const stop = new AbortController()
  const onAbort = () => stop.abort(signal!.reason)
  if (signal?.aborted) stop.abort(signal.reason)
  signal?.addEventListener('abort', onAbort, { once: true })
  const abortSignal = stop.signal
  let failure: unknown
  const failed = (err: unknown) => {
    failure ??= err
    stop.abort(err)
  }
  try {
    const pieces = parts(source, size, BLOCK_SIZE, abortSignal)
    if (size <= BLOCK_SIZE) {
      const { body } = (await pieces.next()).value!
      body.once('error', failed)
      await blob.upload(body, size, { abortSignal })
      return
    }
    const ids: string[] = []
    const prefix = randomUUID()
    for await (const { body, length } of pieces) {
      // Block ids: base64, all the same length within one blob.
      const id = Buffer.from(`${prefix}-${String(ids.length).padStart(6, '0')}`).toString('base64')
      ids.push(id)
      body.once('error', failed)
      await blob.stageBlock(id, body, length, { abortSignal })
    }
    await blob.commitBlockList(ids, { abortSignal })
  } catch (err) {
    // A failing source aborts its request: report the source's error, not the abort.
    throw failure ?? err
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}
