import { randomUUID } from 'node:crypto'
import { addAbortSignal, type Readable } from 'node:stream'
import type { BlockBlobClient } from '@azure/storage-blob'
import { chunked } from '../streams.ts'

/** Block size: a restic pack (~16 MiB) is four blocks; objects up to this size are one Put Blob. */
export const BLOCK_SIZE = 4 << 20
/** Blocks staged at once per upload (memory: (CONCURRENCY + 1) × BLOCK_SIZE per put). */
export const CONCURRENCY = 2

/**
 * Uploads exactly `size` bytes of `source` as a block blob, all or nothing: up to BLOCK_SIZE in
 * one Put Blob, larger objects as staged blocks committed by one Put Block List at the end.
 * Until that commit nothing is visible (uncommitted blocks are not listed and Azure discards
 * them after a week), so a failed, short, long or cancelled upload leaves no object and an
 * overwritten object stays as it was.
 *
 * Not the SDK's `uploadStream`: it does not pass the abort signal to its block requests and
 * cannot count the bytes against `size`; this does both and stops every request on failure.
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
  addAbortSignal(abortSignal, source)
  const running = new Set<Promise<void>>()
  let failure: unknown
  try {
    if (size <= BLOCK_SIZE) {
      let body: Buffer = Buffer.alloc(0)
      for await (const block of chunked(source, size, BLOCK_SIZE)) body = block
      await blob.upload(body, body.length, { abortSignal })
      return
    }
    const ids: string[] = []
    const prefix = randomUUID()
    for await (const block of chunked(source, size, BLOCK_SIZE)) {
      // Block ids: base64, all the same length within one blob.
      const id = Buffer.from(`${prefix}-${String(ids.length).padStart(6, '0')}`).toString('base64')
      ids.push(id)
      const staged: Promise<void> = blob.stageBlock(id, block, block.length, { abortSignal }).then(
        () => void running.delete(staged),
        (err: unknown) => {
          failure ??= err
          running.delete(staged)
          stop.abort(err)
        },
      )
      running.add(staged)
      if (running.size >= CONCURRENCY) await Promise.race(running)
      if (failure) throw failure
    }
    await Promise.all(running)
    if (failure) throw failure
    await blob.commitBlockList(ids, { abortSignal })
  } catch (err) {
    stop.abort(err)
    await Promise.allSettled(running)
    // A failed block request aborts the source, so report that request's error, not the abort.
    throw failure ?? err
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}
