import { request as httpRequest, type Agent as HttpAgent } from 'node:http'
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https'
import { StorageError } from '../types.ts'
import { classify } from './errors.ts'

export type Credentials = {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration?: Date
}

type Agents = { http: HttpAgent; https: HttpsAgent }

const TIMEOUT_MS = 5_000
const MAX_BYTES = 64 * 1024

/**
 * Credentials from an IAM role endpoint, fetched through the guarded agents (so the endpoint
 * passes the outbound guard like any other host) and cached until 5 minutes before they expire.
 * A URL with a path is a container endpoint (ECS: GET it for the credentials JSON); a bare host
 * is an EC2 instance metadata service (IMDSv2 token, then the role's credentials).
 */
export function iamCredentials(endpoint: string, agents: Agents): () => Promise<Credentials> {
  let cached: Credentials | undefined
  let pending: Promise<Credentials> | undefined
  return async () => {
    const fresh = cached?.expiration && cached.expiration.getTime() - Date.now() > 5 * 60_000
    if (cached && (fresh || !cached.expiration)) return cached
    pending ??= fetchCredentials(endpoint, agents).finally(() => (pending = undefined))
    cached = await pending
    return cached
  }
}

async function fetchCredentials(endpoint: string, agents: Agents): Promise<Credentials> {
  const base = new URL(endpoint)
  let body: string
  try {
    if (base.pathname !== '/' && base.pathname !== '') {
      body = await call(base, 'GET', {}, agents)
    } else {
      const token = await call(
        new URL('/latest/api/token', base),
        'PUT',
        { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' },
        agents,
      )
      const headers = { 'x-aws-ec2-metadata-token': token.trim() }
      const list = new URL('/latest/meta-data/iam/security-credentials/', base)
      const role = (await call(list, 'GET', headers, agents)).split('\n')[0]!.trim()
      if (!/^[\w+=,.@-]+$/.test(role))
        throw new StorageError('BadConfig', 'no role is attached to this instance')
      body = await call(new URL(role, list), 'GET', headers, agents)
    }
  } catch (err) {
    const plain = classify(err, { bucket: '', host: base.host })
    const code = plain.code === 'NotFound' ? 'BadConfig' : plain.code
    throw new StorageError(code, `IAM role endpoint: ${plain.message}`, { cause: err })
  }
  let parsed: {
    AccessKeyId?: string
    SecretAccessKey?: string
    Token?: string
    Expiration?: string
  }
  try {
    parsed = JSON.parse(body)
  } catch (err) {
    throw new StorageError('BadConfig', 'the IAM role endpoint did not answer with credentials', {
      cause: err,
    })
  }
  if (!parsed.AccessKeyId || !parsed.SecretAccessKey) {
    throw new StorageError('AuthFailed', 'the IAM role endpoint gave no usable credentials')
  }
  const expiration = parsed.Expiration ? new Date(parsed.Expiration) : undefined
  return {
    accessKeyId: parsed.AccessKeyId,
    secretAccessKey: parsed.SecretAccessKey,
    sessionToken: parsed.Token || undefined,
    expiration: expiration && !Number.isNaN(expiration.getTime()) ? expiration : undefined,
  }
}

/** One request, no redirects followed, small answers only; rejects on a non-2xx status. */
function call(
  url: URL,
  method: string,
  headers: Record<string, string>,
  agents: Agents,
): Promise<string> {
  const https = url.protocol === 'https:'
  const send = https ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      { method, headers, agent: https ? agents.https : agents.http, timeout: TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_BYTES)
            req.destroy(new StorageError('BadConfig', 'the answer is too large'))
          else chunks.push(c)
        })
        res.on('error', reject)
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) resolve(Buffer.concat(chunks).toString('utf8'))
          else if (status === 401 || status === 403)
            reject(new StorageError('AuthFailed', `access refused (HTTP ${status})`))
          else if (status === 404)
            reject(new StorageError('BadConfig', 'no credentials at that address (HTTP 404)'))
          else reject(new StorageError('Transient', `no credentials (HTTP ${status})`))
        })
      },
    )
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    )
    req.on('error', reject)
    req.end()
  })
}
