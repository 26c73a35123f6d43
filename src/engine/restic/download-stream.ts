import { PassThrough, type Readable, type Transform } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { OpenRepo } from './repository.ts'
import { runRestic } from './restic.ts'

/** How long a cancelled download's restic may take to remove its lock before it is killed. */
const GRACE_MS = 3_000
/** How long the `restic unlock` after a cancelled download may take. */
const UNLOCK_MS = 30_000

/** Produces bytes into the stream `sink` is given; resolves when done, stops on `signal`. */
export type Producer = (sink: (s: Readable) => void, signal: AbortSignal) => Promise<void>

/**
 * Runs restic for a download; once cancelled, also `restic unlock`: restic 0.14 stopped while it
 * is still taking its lock has not registered it for removal yet and leaves it behind. unlock
 * removes only locks whose process is gone (same host), never a running job's.
 */
export async function cancellable(repo: OpenRepo, args: string[], sink?: (s: Readable) => void) {
  try {
    await runRestic(args, repo.env, { stdout: sink, graceMs: GRACE_MS })
  } catch (err) {
    if (repo.env.signal?.aborted) {
      const env = { ...repo.env, signal: AbortSignal.timeout(UNLOCK_MS) }
      await runRestic(['unlock'], env).catch((e) =>
        console.error(`[download] restic unlock after a cancel failed: ${(e as Error).message}`),
      )
    }
    throw err
  }
}

/**
 * Runs `produce` and hands out what it writes once the first byte came (or it finished), so
 * a producer that fails early rejects instead. A failure later destroys the stream (the client
 * sees a cut-off download). Closing the stream or aborting `signal` aborts the producer; its
 * output is then drained, so a restic stopping with SIGINT never blocks on a full pipe nor dies
 * of SIGPIPE before it removed its lock. `release` runs once the producer settled and the
 * stream closed.
 */
export function handOut(
  produce: Producer,
  opts: { signal?: AbortSignal; release: () => void; transform?: Transform },
): Promise<Readable> {
  const out = new PassThrough()
  const abort = new AbortController()
  const stop = () => abort.abort()
  // The response's own stream reports the error to the client; this keeps it from being unhandled.
  out.on('error', stop)
  out.on('close', stop)
  const closed = new Promise<void>((resolve) => out.once('close', resolve))
  if (opts.signal?.aborted) stop()
  else opts.signal?.addEventListener('abort', stop, { once: true })
  let ended: Promise<unknown> = Promise.resolve()
  return new Promise<Readable>((resolve, reject) => {
    const fail = (err: Error) => {
      reject(err)
      out.destroy(err)
    }
    const sink = (source: Readable) => {
      const tail = opts.transform ? source.pipe(opts.transform) : source
      if (opts.transform) opts.transform.on('error', fail)
      ended = finished(tail, { writable: false })
      ended.catch(() => {}) // awaited only when the producer succeeds; its failure says why
      tail.once('data', () => resolve(out))
      // Ended only once the producer succeeded: a producer that fails after its last byte
      // must still cut the stream, not end it cleanly.
      tail.pipe(out, { end: false })
      const drain = () => {
        source.unpipe()
        opts.transform?.destroy()
        source.resume()
      }
      if (abort.signal.aborted) drain()
      else abort.signal.addEventListener('abort', drain, { once: true })
    }
    const producing = produce(sink, abort.signal).then(async () => {
      await ended
      out.end()
      resolve(out)
    })
    producing.catch(fail)
    void Promise.allSettled([producing, closed]).then(opts.release)
  }).catch((err) => {
    out.destroy()
    throw err
  })
}
