import type { Db } from '../db/client.ts'
import type { Config } from '../config.ts'
import type { Notification } from '../db/schema.ts'
import { getTenant } from '../db/tenants.ts'
import { guardPolicy } from '../db/settings.ts'
import {
  claimNotification,
  markAttemptFailed,
  markSent,
  dueNotifications,
} from '../db/notifications.ts'
import { DeliveryError } from './delivery-error.ts'
import { smtpMailer, type Mailer } from './mail.ts'
import { postWebhook } from './webhook.ts'
import { openWebhookSecret } from './settings.ts'

/** Attempts per notice before it is marked failed. */
export const MAX_ATTEMPTS = 5
/** First retry after this; each later one waits twice as long (30 s, 1, 2, 4 min). */
const RETRY_BASE_MS = 30_000

export const SMTP_OFF = 'SMTP is not configured'

export type SenderDeps = { db: Db; config: Config }

async function deliver(deps: SenderDeps, mailer: Mailer | null, row: Notification): Promise<void> {
  if (row.channel === 'email') {
    if (!mailer) throw new DeliveryError(SMTP_OFF, true)
    return mailer.send(row.recipient, row.subject, row.body)
  }
  if (!row.tenantId) throw new DeliveryError('a webhook notice without a tenant', true)
  const secret = openWebhookSecret(deps.config.secretKey, await getTenant(deps.db, row.tenantId))
  if (!secret)
    throw new DeliveryError(
      'no webhook secret is set; save one under Backups > Notifications',
      true,
    )
  await postWebhook(await guardPolicy(deps.db), row.recipient, row.body, secret, {
    event: row.event,
    delivery: row.id,
  })
}

/**
 * Delivers every pending notice that is due, one at a time: sent, or (on failure) pending
 * again with the reason until MAX_ATTEMPTS, then failed; permanent failures give up at once.
 * Returns how many notices were attempted.
 */
export async function deliverDue(
  deps: SenderDeps,
  mailer: Mailer | null,
  now = Date.now(),
  signal?: AbortSignal,
): Promise<number> {
  let tried = 0
  for (const row of await dueNotifications(deps.db, now, RETRY_BASE_MS)) {
    if (signal?.aborted) break
    if (!(await claimNotification(deps.db, row))) continue
    tried++
    try {
      await deliver(deps, mailer, row)
      await markSent(deps.db, row.id)
    } catch (err) {
      const permanent = err instanceof DeliveryError ? err.permanent : false
      const reason = err instanceof Error ? err.message : String(err)
      const final = permanent || row.attempts + 1 >= MAX_ATTEMPTS
      await markAttemptFailed(
        deps.db,
        row.id,
        final && !permanent ? `${reason} (gave up after ${MAX_ATTEMPTS} attempts)` : reason,
        final,
      )
    }
  }
  return tried
}

export type Sender = {
  /** Stops polling and waits for the delivery in progress (each is bounded by its timeouts). */
  stop(): Promise<void>
  /** Delivers now instead of at the next poll. */
  wake(): void
}

/**
 * Starts the notice sender beside the job runner: polls for due notices every `pollMs`
 * (default 2000 ms). Errors never stop the loop.
 */
export function startSender(
  deps: SenderDeps,
  opts: { pollMs?: number; onError?: (err: unknown) => void } = {},
): Sender {
  const { pollMs = 2000 } = opts
  const onError = opts.onError ?? ((err: unknown) => console.error('notify sender:', err))
  const mailer = deps.config.smtp ? smtpMailer(deps.config.smtp) : null
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let current: Promise<void> = Promise.resolve()

  const tick = () => {
    timer = undefined
    current = deliverDue(deps, mailer, Date.now(), controller.signal)
      .then(() => undefined, onError)
      .finally(() => {
        if (!controller.signal.aborted && !timer) timer = setTimeout(tick, pollMs)
      })
  }
  timer = setTimeout(tick, 0)
  return {
    async stop() {
      controller.abort()
      clearTimeout(timer)
      await current
      mailer?.close()
    },
    wake() {
      if (controller.signal.aborted || !timer) return // a tick is running; it polls again after
      clearTimeout(timer)
      timer = setTimeout(tick, 0)
    },
  }
}
