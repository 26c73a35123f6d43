import { Hono } from 'hono'
import { getTenant, listTenantDatabases } from '../db/tenants.ts'
import { getAdminSettings } from '../db/settings.ts'
import { setTenantQuotas, storedUsage } from '../db/limits.ts'
import type { Tenant } from '../db/schema.ts'
import { onDemandUsage } from '../domain/limits.ts'
import { formatBytes } from '../units.ts'
import {
  parseQuotas,
  quotaText,
  type LimitsText,
  type QuotaText,
} from '../domain/limit-settings.ts'
import { TenantLimitsCard } from '../../views/limits.tsx'
import { EditTenantPage } from '../../views/admin-tenants.tsx'
import { auditWeb } from './audit-trail.ts'
import {
  type AppEnv,
  type Ctx,
  type Form,
  idParam,
  isHtmx,
  pageCtx,
  readForm,
  redirectTo,
  str,
} from './context.ts'

/** A tenant's own limits, mounted under /admin/tenants (behind the admin guard). */
export const adminLimitsRoutes = new Hono<AppEnv>()

export function quotaFromForm(form: Form): QuotaText {
  return {
    quotaGiB: str(form, 'quotaGiB').trim(),
    quotaSnapshots: str(form, 'quotaSnapshots').trim(),
    quotaRunsPerDay: str(form, 'quotaRunsPerDay').trim(),
  }
}

/** The Policy limits fields as typed. */
export function limitsFromForm(form: Form): LimitsText {
  return {
    ...quotaFromForm(form),
    minIntervalMinutes: str(form, 'minIntervalMinutes').trim(),
    localRoot: str(form, 'localRoot').trim(),
  }
}

/** The Limits card for the admin's tenant page: the tenant's own values (or those typed), usage. */
export async function tenantLimitsCard(
  c: Ctx,
  tenant: Tenant,
  typed?: QuotaText,
  errors: Record<string, string> = {},
) {
  const { db } = c.get('deps')
  const usage = await storedUsage(db, tenant.id)
  return (
    <TenantLimitsCard
      csrf={c.get('csrf')}
      tenantId={tenant.id}
      values={typed ?? quotaText(tenant)}
      errors={errors}
      defaults={quotaText(await getAdminSettings(db))}
      usage={{
        stored: formatBytes(usage.bytes),
        snapshots: usage.snapshots,
        onDemand: (await onDemandUsage(db, tenant)).used,
      }}
    />
  )
}

adminLimitsRoutes.post('/:id/limits', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  const typed = quotaFromForm(await readForm(c))
  const errors: Record<string, string> = {}
  const quotas = parseQuotas(typed, errors)
  if (Object.keys(errors).length) {
    if (isHtmx(c)) return c.html(await tenantLimitsCard(c, tenant, typed, errors), 422)
    const values = {
      name: tenant.name,
      homeDir: tenant.homeDir,
      systemUser: tenant.systemUser ?? '',
      timezone: tenant.timezone,
    }
    const page = (
      <EditTenantPage
        ctx={pageCtx(c)}
        tenant={tenant}
        values={values}
        errors={{}}
        databases={await listTenantDatabases(db, tenant.id)}
        extra={await tenantLimitsCard(c, tenant, typed, errors)}
      />
    )
    return c.html(page, 422)
  }
  await setTenantQuotas(db, tenant.id, quotas)
  const before = {
    quotaBytes: tenant.quotaBytes,
    quotaSnapshots: tenant.quotaSnapshots,
    quotaRunsPerDay: tenant.quotaRunsPerDay,
  }
  const changed = (Object.keys(before) as (keyof typeof before)[]).filter(
    (k) => before[k] !== quotas[k],
  )
  if (changed.length) {
    const details = Object.fromEntries(changed.map((k) => [k, { from: before[k], to: quotas[k] }]))
    await auditWeb(c, 'tenant.limits', { tenantId: tenant.id, target: tenant.name, details })
  }
  return redirectTo(c, `/admin/tenants/${tenant.id}`, {
    kind: 'ok',
    text: `Limits of “${tenant.name}” saved.`,
  })
})
