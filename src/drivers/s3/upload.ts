import type { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3'
import { parts } from '../streams.ts'

/** Where an upload goes: bucket, full key, and the storage class (undefined: the bucket's). */
export type Target = { Bucket: string; Key: string; StorageClass?: StorageClass }

/**
 * Runs `send` with a signal that also fires when `body` fails (a short or long source): the SDK
 * would otherwise leave the request waiting for the rest. The body's error is the one reported.
 * The SDK sends a streamed body once (it cannot re-read it): retrying the upload is `withRetry`'s
 * job (it opens the source again) or, through the bridge, restic's.
 */
async function streaming<T>(
  body: Readable,
  signal: AbortSignal | undefined,
  send: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const stop = new AbortController()
  let failure: unknown
  body.once('error', (err) => {
    failure = err
    stop.abort(err)
  })
  try {
    return await send(signal ? AbortSignal.any([signal, stop.signal]) : stop.signal)
  } catch (err) {
    throw failure ?? err
  }
}

/**
 * Uploads exactly `size` bytes of `source` to `to`, streaming: up to `partSize` in one
 * PutObject, larger objects as a multipart upload whose parts go up one after another, each
 * streamed with its Content-Length. Memory stays at a few stream buffers per upload, whatever
 * the part size (buffering parts cost 2-3 parts per upload, times restic's 5 connections).
 *
 * All or nothing: the last bytes are sent only once the source proved it held exactly `size`
 * (see `parts`), and a multipart upload becomes visible only when completed; a failed or
 * cancelled one is aborted (best effort, even after `signal` fired: a provider that refuses
 * leaves invisible parts for its lifecycle rules).
 */
export async function uploadObject(
  c: S3Client,
  to: Target,
  source: Readable,
  size: number,
  partSize: number,
  signal?: AbortSignal,
): Promise<void> {
  const { Bucket, Key } = to
  const pieces = parts(source, size, partSize, signal)
  if (size <= partSize) {
    const Body = (await pieces.next()).value!.body
    const put = new PutObjectCommand({ ...to, Body, ContentLength: size })
    await streaming(Body, signal, (abortSignal) => c.send(put, { abortSignal }))
    return
  }
  const { UploadId } = await c.send(new CreateMultipartUploadCommand(to), { abortSignal: signal })
  try {
    const done: CompletedPart[] = []
    for await (const { body, length } of pieces) {
      const PartNumber = done.length + 1
      const part = new UploadPartCommand({
        Bucket,
        Key,
        UploadId,
        PartNumber,
        Body: body,
        ContentLength: length,
      })
      const { ETag } = await streaming(body, signal, (abortSignal) => c.send(part, { abortSignal }))
      done.push({ PartNumber, ETag })
    }
    const complete = { Bucket, Key, UploadId, MultipartUpload: { Parts: done } }
    await c.send(new CompleteMultipartUploadCommand(complete), { abortSignal: signal })
  } catch (err) {
    const abort = new AbortMultipartUploadCommand({ Bucket, Key, UploadId })
    await c.send(abort, { abortSignal: AbortSignal.timeout(30_000) }).catch(() => {})
    throw err
  }
}
