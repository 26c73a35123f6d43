import type { Db } from '../db/client.ts'
import type { Config } from '../config.ts'
import type { Tenant } from '../db/schema.ts'
import { getTenant, tenantUser } from '../db/tenants.ts'
import { runStagesOf } from '../db/runs.ts'
import { listDestinations } from '../db/destinations.ts'
import { adminEmails, insertNotifications, type NewNotification } from '../db/notifications.ts'
import { InputError } from '../errors.ts'
import { panelOrigin } from '../db/panel-url.ts'
import type { NotifyEvent } from './events.ts'
import { compose, payloadOf, when, type Facts } from './compose.ts'

export type NotifyDeps = { db: Db; config: Config }

/** Events the tenant's 'failures' choice covers (plus the first success after them). */
const FAILURES = new Set<NotifyEvent['type']>([
  'backup.failed',
  'backup.partial',
  'backup.recovered',
  'schedule.missed',
  'verify.failed',
])
/** Events every admin with an address gets, whatever the tenant chose. */
const ADMIN = new Set<NotifyEvent['type']>(['token.created', 'token.reset', 'verify.failed'])

/** Where the tenant's notices go: their notification address, else their account's e-mail. */
export async function tenantAddress(db: Db, tenant: Tenant): Promise<string | null> {
  return tenant.notifyEmail || (await tenantUser(db, tenant.id))?.email || null
}

/** True when the tenant's choice (every run / failures only / never) covers `type`. */
export function tenantWants(mode: Tenant['notifyMode'], type: NotifyEvent['type']): boolean {
  if (type === 'token.created' || type === 'token.reset') return false
  if (mode === 'never') return false
  return mode === 'every' || FAILURES.has(type)
}

/** Names of the destinations whose stages did not succeed in `runId`. */
async function troubledDestinations(db: Db, tenantId: number, runId: number): Promise<string[]> {
  const names = new Map((await listDestinations(db, tenantId)).map((d) => [d.id, d.name]))
  const out = new Set<string>()
  for (const s of await runStagesOf(db, runId)) {
    if (
      (s.status === 'failed' || s.status === 'partial') &&
      s.destinationId &&
      names.has(s.destinationId)
    ) {
      out.add(names.get(s.destinationId)!)
    }
  }
  return [...out]
}

async function linkOf(
  deps: NotifyDeps,
  event: NotifyEvent,
  tenantId: number,
  forAdmin: boolean,
): Promise<string> {
  const origin = await panelOrigin(deps.db, deps.config)
  if (forAdmin) return `${origin}/admin/tenants/${tenantId}`
  return 'runId' in event ? `${origin}/backups/runs/${event.runId}` : `${origin}/backups`
}

/** The rows `event` calls for, without writing them. */
export async function noticesFor(
  deps: NotifyDeps,
  event: NotifyEvent,
  at = new Date(),
): Promise<NewNotification[]> {
  const { db } = deps
  const tenant = await getTenant(db, event.tenantId)
  const rows: NewNotification[] = []
  const facts: Facts = {
    tenant: tenant.name,
    timezone: tenant.timezone,
    destinations: 'runId' in event ? await troubledDestinations(db, tenant.id, event.runId) : [],
    link: await linkOf(deps, event, tenant.id, false),
    at,
  }
  const mail = (recipient: string, link: string) => {
    const m = compose(event, { ...facts, link })
    rows.push({ tenantId: tenant.id, channel: 'email', recipient, event: event.type, ...m })
  }
  const own = await tenantAddress(db, tenant)
  if (tenantWants(tenant.notifyMode, event.type)) {
    if (own) mail(own, facts.link!)
    if (tenant.webhookUrl) {
      const body = JSON.stringify(payloadOf(event, tenant.name, at))
      const { subject } = compose(event, facts)
      rows.push({
        tenantId: tenant.id,
        channel: 'webhook',
        recipient: tenant.webhookUrl,
        event: event.type,
        subject,
        body,
      })
    }
  }
  if (ADMIN.has(event.type)) {
    const sent = new Set(
      rows.filter((r) => r.channel === 'email').map((r) => r.recipient.toLowerCase()),
    )
    for (const admin of await adminEmails(db)) {
      if (!sent.has(admin.toLowerCase())) mail(admin, await linkOf(deps, event, tenant.id, true))
    }
  }
  return rows
}

/**
 * Raises an event: queues the e-mails and webhook calls it calls for (the tenant's choice, admins
 * for token events and verify failures) as pending `notifications` rows. Never throws into the
 * caller and never waits for delivery; the runner's sender delivers with retries.
 */
export async function notify(deps: NotifyDeps, event: NotifyEvent): Promise<void> {
  try {
    await insertNotifications(deps.db, await noticesFor(deps, event))
  } catch (err) {
    console.error(`notify: ${event.type} for tenant ${event.tenantId} was not queued:`, err)
  }
}

/**
 * Queues a test notice to the tenant's address and webhook, whatever their choice. Throws
 * InputError when neither is set. Returns the channels queued.
 */
export async function queueTestNotice(
  deps: NotifyDeps,
  tenantId: number,
  at = new Date(),
): Promise<NewNotification['channel'][]> {
  const tenant = await getTenant(deps.db, tenantId)
  const own = await tenantAddress(deps.db, tenant)
  if (!own && !tenant.webhookUrl)
    throw new InputError({ test: 'Set an e-mail address or a webhook URL first, and save.' })
  const subject = `Test notification from the panel (${tenant.name})`
  const rows: NewNotification[] = []
  if (own) {
    const body = [
      `Hello ${tenant.name},`,
      '',
      `This is a test sent on ${when(at, tenant.timezone)} from Backups > Notifications. E-mail notices reach you at this address.`,
      '',
      `Your notification settings: ${await panelOrigin(deps.db, deps.config)}/backups/notifications`,
    ].join('\n')
    rows.push({ tenantId, channel: 'email', recipient: own, event: 'test', subject, body })
  }
  if (tenant.webhookUrl) {
    const payload = {
      event: 'test',
      tenant: tenant.name,
      policy: null,
      runId: null,
      status: 'test',
      reason: null,
      at: at.toISOString(),
    }
    rows.push({
      tenantId,
      channel: 'webhook',
      recipient: tenant.webhookUrl,
      event: 'test',
      subject,
      body: JSON.stringify(payload),
    })
  }
  await insertNotifications(deps.db, rows)
  return rows.map((r) => r.channel)
}
