import { createHmac } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { resolveChecked, type GuardPolicy } from '../drivers/guard.ts'
import { StorageError } from '../drivers/types.ts'
import { DeliveryError } from './delivery-error.ts'

/** A webhook call gives up after this long, connect to last byte. */
export const WEBHOOK_TIMEOUT_MS = 10_000

/**
 * The X-Panel-Signature value: `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` under the
 * secret. Signing the timestamp too lets a receiver refuse an old call replayed later.
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/** URL problems a tenant can fix, in words; null when `url` is an acceptable webhook URL. */
export function webhookUrlProblem(url: string): string | null {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return 'Enter a full URL, like https://hooks.example.com/backups.'
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    return 'The URL must start with https:// or http://.'
  if (u.username || u.password)
    return 'Leave the user name and password out of the URL; the signature authenticates the call.'
  if (!u.hostname) return 'The URL has no host name.'
  return null
}

/** Checks the URL's host under the guard; resolves to the address to connect to. */
export async function checkWebhookHost(guard: GuardPolicy, url: string) {
  const problem = webhookUrlProblem(url)
  if (problem) throw new DeliveryError(problem, true)
  try {
    return await resolveChecked(guard, new URL(url).hostname)
  } catch (err) {
    // A refused address is permanent; a failed DNS lookup may be passing.
    const dns = err instanceof StorageError && err.cause !== undefined
    throw new DeliveryError(err instanceof Error ? err.message : String(err), !dns, { cause: err })
  }
}

/**
 * POSTs `body` (JSON) to `url`, signed with `secret`, through the outbound guard: the host is
 * resolved and every address checked, the connection goes to the checked address (TLS still
 * verifies the host's name), redirects are never followed, and the whole call times out after
 * WEBHOOK_TIMEOUT_MS. A 2xx answer is success; 3xx and 4xx (except 408/429) are permanent.
 */
export async function postWebhook(
  guard: GuardPolicy,
  url: string,
  body: string,
  secret: string,
  extra: { event: string; delivery: number; at?: Date },
): Promise<void> {
  const { address, family } = await checkWebhookHost(guard, url)
  const u = new URL(url)
  const lib = u.protocol === 'https:' ? https : http
  const bytes = Buffer.from(body)
  const timestamp = String(Math.floor((extra.at ?? new Date()).getTime() / 1000))
  const status = await new Promise<number>((resolve, reject) => {
    const req = lib.request(u, {
      method: 'POST',
      agent: false,
      // Connect to the address the guard checked, never to a second lookup's answer.
      lookup: ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
        if (opts?.all) cb(null, [{ address, family }])
        else cb(null, address, family)
      }) as never,
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': String(bytes.length),
        'User-Agent': 'panel-backups-webhook',
        'X-Panel-Event': extra.event,
        'X-Panel-Delivery': String(extra.delivery),
        'X-Panel-Timestamp': timestamp,
        'X-Panel-Signature': signature(secret, timestamp, body),
      },
    })
    req.on('response', (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(bytes)
  }).catch((err: NodeJS.ErrnoException) => {
    const timeout =
      err.name === 'AbortError' || err.name === 'TimeoutError' || err.code === 'ABORT_ERR'
    const why = timeout
      ? `the webhook did not answer within ${WEBHOOK_TIMEOUT_MS / 1000} seconds`
      : `the webhook could not be reached (${err.code ?? err.message})`
    throw new DeliveryError(why, false, { cause: err })
  })
  if (status >= 200 && status < 300) return
  if (status >= 300 && status < 400) {
    throw new DeliveryError(
      `the webhook answered with a redirect (HTTP ${status}); redirects are not followed, use the final URL`,
      true,
    )
  }
  const retry = status >= 500 || status === 408 || status === 429
  throw new DeliveryError(`the webhook answered HTTP ${status}`, !retry)
}
