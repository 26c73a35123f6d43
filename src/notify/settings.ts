import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { tenants, type Tenant } from '../db/schema.ts'
import { guardPolicy } from '../db/settings.ts'
import { InputError } from '../errors.ts'
import { open, seal } from '../secret-box.ts'
import { checkWebhookHost, webhookUrlProblem } from './webhook.ts'

export type NotifyMode = Tenant['notifyMode']
export const MODES: readonly NotifyMode[] = ['every', 'failures', 'never']

/** The form as typed; `webhookSecret` blank keeps the stored secret. */
export type NotifySettingsInput = {
  email: string
  mode: string
  webhookUrl: string
  webhookSecret: string
}

const context = (tenantId: number) => `tenant:${tenantId}:webhook-secret`

/** A fresh secret to offer when none is stored yet (32 random bytes, hex). */
export function generateSecret(): string {
  return randomBytes(32).toString('hex')
}

/** The tenant's webhook secret in clear, for signing; null when none is stored. */
export function openWebhookSecret(key: Buffer, tenant: Tenant): string | null {
  return tenant.webhookSecretSealed
    ? open(key, tenant.webhookSecretSealed, context(tenant.id))
    : null
}

/** A plain check that catches typos, not a full RFC 5322 parser: one @, a dotted domain, no spaces. */
export function emailProblem(email: string): string | null {
  if (email.length > 254 || !/^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:".]{2,}$/.test(email)) {
    return `“${email}” is not an e-mail address like you@example.com.`
  }
  return null
}

/**
 * Validates and stores a tenant's notification settings. The webhook's host must pass the
 * outbound guard now (a refused address is reported here, not at the first failure); a URL
 * without any secret stored or typed is refused. Throws InputError keyed by field.
 */
export async function saveNotifySettings(
  deps: { db: Db; config: { secretKey: Buffer } },
  tenant: Tenant,
  input: NotifySettingsInput,
): Promise<void> {
  const errors: Record<string, string> = {}
  const email = input.email.trim()
  const url = input.webhookUrl.trim()
  const secret = input.webhookSecret.trim()
  if (email) {
    const p = emailProblem(email)
    if (p) errors.email = p
  }
  if (!MODES.includes(input.mode as NotifyMode)) errors.mode = 'Choose when to be told.'
  if (url) {
    const p = webhookUrlProblem(url)
    if (p) errors.webhookUrl = p
    else {
      try {
        await checkWebhookHost(await guardPolicy(deps.db), url)
      } catch (err) {
        errors.webhookUrl = err instanceof Error ? err.message : String(err)
      }
    }
    if (!secret && !tenant.webhookSecretSealed)
      errors.webhookSecret = 'Enter a secret (or keep the generated one) to sign the calls.'
    else if (secret && secret.length < 16) errors.webhookSecret = 'Use at least 16 characters.'
  }
  if (Object.keys(errors).length) throw new InputError(errors)
  const sealed = secret
    ? seal(deps.config.secretKey, secret, context(tenant.id))
    : tenant.webhookSecretSealed
  await deps.db
    .update(tenants)
    .set({
      notifyEmail: email || null,
      notifyMode: input.mode as NotifyMode,
      webhookUrl: url || null,
      webhookSecretSealed: url ? sealed : null,
    })
    .where(eq(tenants.id, tenant.id))
}
