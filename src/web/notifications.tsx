import { Hono } from 'hono'
import { getTenant, tenantUser } from '../db/tenants.ts'
import { listNotifications } from '../db/notifications.ts'
import { InputError } from '../errors.ts'
import { generateSecret, saveNotifySettings } from '../notify/settings.ts'
import { queueTestNotice } from '../notify/notify.ts'
import { safeZone } from '../zoned.ts'
import {
  NotificationHistory,
  NotificationsPage,
  NotifyForm,
  type NotifyFormValues,
} from '../../views/notifications.tsx'
import {
  type AppEnv,
  type Ctx,
  isHtmx,
  pageCtx,
  readForm,
  redirectTo,
  str,
  tenantOf,
} from './context.ts'
import type { Errors } from '../../views/fields.tsx'
import { auditWeb } from './audit-trail.ts'

export const notificationRoutes = new Hono<AppEnv>()

/** The page with `values` in the form (the stored settings, or what was just typed). */
async function page(c: Ctx, values: NotifyFormValues | null, errors: Errors = {}) {
  const { db, config } = c.get('deps')
  const tenant = await getTenant(db, tenantOf(c).id)
  const secretStored = Boolean(tenant.webhookSecretSealed)
  const shown: NotifyFormValues = values ?? {
    email: tenant.notifyEmail ?? '',
    mode: tenant.notifyMode,
    webhookUrl: tenant.webhookUrl ?? '',
    // Offered once, before any secret is stored; a stored secret is never rendered back.
    webhookSecret: secretStored ? '' : generateSecret(),
  }
  return (
    <NotificationsPage
      ctx={pageCtx(c)}
      values={shown}
      errors={errors}
      secretStored={secretStored}
      emailOn={Boolean(config.smtp)}
      accountEmail={(await tenantUser(db, tenant.id))?.email ?? null}
      history={await listNotifications(db, tenant.id)}
    />
  )
}

notificationRoutes.get('/', async (c) => {
  // The page may offer a freshly generated webhook secret: never cached.
  c.header('Cache-Control', 'no-store')
  return c.html(await page(c, null))
})

notificationRoutes.get('/history', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  return c.html(
    <NotificationHistory
      rows={await listNotifications(db, tenant.id)}
      zone={safeZone(tenant.timezone)}
    />,
  )
})

notificationRoutes.post('/', async (c) => {
  const deps = c.get('deps')
  const tenant = await getTenant(deps.db, tenantOf(c).id)
  const form = await readForm(c)
  const values: NotifyFormValues = {
    email: str(form, 'email'),
    mode: str(form, 'mode'),
    webhookUrl: str(form, 'webhookUrl'),
    webhookSecret: str(form, 'webhookSecret'),
  }
  try {
    await saveNotifySettings(deps, tenant, values)
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    // A typed secret is never sent back (with htmx, the page's script puts it back in place).
    values.webhookSecret = ''
    c.header('Cache-Control', 'no-store')
    if (!isHtmx(c)) return c.html(await page(c, values, err.errors), 422)
    const accountEmail = (await tenantUser(deps.db, tenant.id))?.email ?? null
    const fragment = (
      <NotifyForm
        csrf={c.get('csrf')}
        values={values}
        errors={err.errors}
        secretStored={Boolean(tenant.webhookSecretSealed)}
        accountEmail={accountEmail}
      />
    )
    return c.html(fragment, 422)
  }
  // Which settings changed shape, not their values (an address or URL is the tenant's own).
  const details = {
    mode: values.mode,
    email: Boolean(values.email.trim()),
    webhook: Boolean(values.webhookUrl.trim()),
    secretChanged: Boolean(values.webhookSecret.trim()),
  }
  await auditWeb(c, 'notifications.update', { details })
  return redirectTo(c, '/backups/notifications', {
    kind: 'ok',
    text: 'Notification settings saved.',
  })
})

/** Queues a test to the saved address and webhook; the history shows how it went. */
notificationRoutes.post('/test', async (c) => {
  const deps = c.get('deps')
  const tenant = tenantOf(c)
  let note: string | undefined
  let error: string | undefined
  try {
    const words = (await queueTestNotice(deps, tenant.id)).map((ch) =>
      ch === 'email' ? 'an e-mail' : 'a webhook call',
    )
    note = `Test queued: ${words.join(' and ')}. Its status shows below within a few seconds.`
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    error = err.message
  }
  if (!isHtmx(c)) {
    return redirectTo(
      c,
      '/backups/notifications',
      error ? { kind: 'error', text: error } : { kind: 'ok', text: note! },
    )
  }
  return c.html(
    <NotificationHistory
      rows={await listNotifications(deps.db, tenant.id)}
      zone={safeZone(tenant.timezone)}
      note={note}
      error={error}
    />,
  )
})
