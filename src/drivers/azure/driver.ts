import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import { PassThrough, Readable, addAbortSignal, pipeline } from 'node:stream'
import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  newPipeline,
  type StoragePipelineOptions,
} from '@azure/storage-blob'
import { checkUrlHost, guardedLookup, type GuardPolicy } from '../guard.ts'
import { keySegments, prefixFolder, type KeyRules } from '../keys.ts'
import { byteRange } from '../streams.ts'
import { StorageError, type Driver } from '../types.ts'
import { classify, type Where } from './errors.ts'
import { uploadBlob } from './upload.ts'
import { capabilities } from './settings.ts'

/** Blob names (prefix included) are at most 1,024 characters: keep keys well under that. */
const RULES: KeyRules = { maxLength: 900 }

export type AzureConfig = {
  account: string
  /** Exactly one of `key` and `sas`. */
  key?: string
  sas?: string
  container: string
  /** Blob name prefix every key lives under: `<path>/<tenant>/`, ending in `/`. */
  prefix: string
  /** The Blob service URL, e.g. `https://<account>.blob.core.windows.net`. */
  endpoint: string
  guard: GuardPolicy
  /** A connection idle this long (no bytes either way) is dropped as timed out; default 120 s. */
  idleMs?: number
}

/**
 * Objects as block blobs named `<prefix><key>` in one container. Every connection goes through
 * an agent whose `lookup` is the outbound guard (the endpoint host is also checked up front, as
 * Node skips lookup for IP literals); redirects are not followed; the SDK tries each request at
 * most twice, uploads once (retries belong to `withRetry`). Puts stream and are atomic (see
 * `uploadBlob`). Cancelling through `signal` rejects `Transient`; a get's stream is destroyed
 * with an AbortError.
 *
 * A missing credential, or both a key and a SAS token, rejects every call `BadConfig`.
 */
export function azureDriver(config: AzureConfig): Driver {
  const where: Where = { container: config.container, auth: config.key ? 'key' : 'sas' }
  const secure = /^https:/i.test(config.endpoint)
  const agentOptions = {
    keepAlive: true,
    maxSockets: 8,
    timeout: config.idleMs ?? 120_000,
    lookup: guardedLookup(config.guard),
  }
  const agent = dropWhenIdle(secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions))
  // `agent` and `redirectOptions` are @azure/core-rest-pipeline options that newPipeline passes
  // through to it untyped: every request uses our agent, and a 3xx comes back as an error.
  const options: StoragePipelineOptions & {
    agent: http.Agent
    redirectOptions: { maxRetries: number }
  } = {
    agent,
    redirectOptions: { maxRetries: 0 },
    retryOptions: { maxTries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 2_000 },
    userAgentOptions: { userAgentPrefix: 'panel-backups' },
  }
  const credential = config.key
    ? new StorageSharedKeyCredential(config.account, config.key)
    : new AnonymousCredential()
  const query = config.sas && !config.key ? `?${config.sas.replace(/^\?/, '')}` : ''
  const url = config.endpoint.replace(/\/+$/, '') + query
  const containerOf = (maxTries: number) =>
    new BlobServiceClient(
      url,
      newPipeline(credential, { ...options, retryOptions: { ...options.retryOptions, maxTries } }),
    ).getContainerClient(config.container)
  const container = containerOf(2)
  // Uploads stream their body, which a retry cannot re-read (see uploadBlob).
  const uploads = containerOf(1)

  let checked = false
  /** Credentials and endpoint host, checked at first use (not in open(): that is synchronous). */
  async function ready() {
    if (checked) return
    if (config.key && config.sas) {
      throw new StorageError(
        'BadConfig',
        'Give either an account key or a SAS token, not both: clear one of them.',
      )
    }
    if (!config.key && !config.sas)
      throw new StorageError('BadConfig', 'Give an account key or a SAS token.')
    await checkUrlHost(config.guard, config.endpoint)
    checked = true
  }
  const fail = (err: unknown, signal?: AbortSignal) =>
    signal?.aborted && !(err instanceof StorageError && err.code !== 'Transient')
      ? new StorageError('Transient', 'the operation was cancelled', { cause: err })
      : classify(err, where)
  const blob = (key: string, from = container) => {
    keySegments(key, RULES)
    return from.getBlockBlobClient(config.prefix + key)
  }

  return {
    capabilities,

    async put(key, open, { size, signal }) {
      try {
        const client = blob(key, uploads)
        await ready()
        signal?.throwIfAborted()
        await uploadBlob(client, open(), size, signal)
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async get(key, { range, signal } = {}) {
      try {
        const client = blob(key)
        const { start, end, empty } = byteRange(range)
        await ready()
        signal?.throwIfAborted()
        if (empty) {
          await client.getProperties({ abortSignal: signal })
          return Readable.from([])
        }
        const count = end === undefined ? undefined : end - start
        const res = await client.download(start, count, {
          abortSignal: signal,
          maxRetryRequests: 1,
        })
        const out = new PassThrough()
        pipeline(res.readableStreamBody!, out, () => {})
        return signal ? addAbortSignal(signal, out) : out
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async *list(prefix, { signal } = {}) {
      try {
        prefixFolder(prefix, RULES)
        await ready()
        signal?.throwIfAborted()
      } catch (err) {
        throw fail(err, signal)
      }
      const pages = container
        .listBlobsFlat({ prefix: config.prefix + prefix, abortSignal: signal })
        .byPage({ maxPageSize: 1000 })
      try {
        for await (const page of pages) {
          for (const item of page.segment.blobItems) {
            yield {
              key: item.name.slice(config.prefix.length),
              size: item.properties.contentLength ?? 0,
            }
          }
        }
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async stat(key, { signal } = {}) {
      try {
        const client = blob(key)
        await ready()
        signal?.throwIfAborted()
        const props = await client.getProperties({ abortSignal: signal })
        return { key, size: props.contentLength ?? 0 }
      } catch (err) {
        throw fail(err, signal)
      }
    },

    async remove(key, { signal } = {}) {
      try {
        const client = blob(key)
        await ready()
        signal?.throwIfAborted()
        await client.delete({ abortSignal: signal, deleteSnapshots: 'include' })
      } catch (err) {
        const e = fail(err, signal)
        if (e.code !== 'NotFound') throw e
      }
    },

    async close() {
      agent.destroy()
    },
  }
}

/** Drops a connection idle for the agent's `timeout` mid-request (Node only emits an event). */
function dropWhenIdle<A extends http.Agent>(agent: A): A {
  const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Socket
  agent.createConnection = ((...args: unknown[]) => {
    const socket = create(...args)
    socket?.on('timeout', () =>
      socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    )
    return socket
  }) as typeof agent.createConnection
  return agent
}
