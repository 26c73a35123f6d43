import { Hono } from 'hono'
import { getTenant } from '../db/tenants.ts'
import { setTenantDisabled } from '../domain/tenants.ts'
import { removeTenant, retireTenantFiles } from '../domain/remove-tenant.ts'
import { ConflictError } from '../errors.ts'
import { DisableTenantPage, RemoveTenantPage } from '../../views/admin-tenant-confirm.tsx'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, idParam, pageCtx, readForm, redirectTo, str } from './context.ts'

/** Disable, enable and remove a tenant: the two that take something away confirm on a page first. */
export const adminTenantActions = new Hono<AppEnv>()

adminTenantActions.get('/:id/disable', async (c) => {
  const tenant = await getTenant(c.get('deps').db, idParam(c))
  return c.html(<DisableTenantPage ctx={pageCtx(c)} tenant={tenant} />)
})

adminTenantActions.post('/:id/disable', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  // A bare POST (an old form, a script) lands on the confirmation page, never acts at once.
  if (str(await readForm(c), 'confirm') !== 'yes') {
    return c.redirect(`/admin/tenants/${tenant.id}/disable`, 303)
  }
  await setTenantDisabled(db, tenant.id, true)
  await auditWeb(c, 'tenant.disable', { tenantId: tenant.id, target: tenant.name })
  return redirectTo(c, `/admin/tenants/${tenant.id}`, {
    kind: 'ok',
    text: `“${tenant.name}” is disabled and signed out.`,
  })
})

adminTenantActions.post('/:id/enable', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  await setTenantDisabled(db, tenant.id, false)
  await auditWeb(c, 'tenant.enable', { tenantId: tenant.id, target: tenant.name })
  return redirectTo(c, `/admin/tenants/${tenant.id}`, {
    kind: 'ok',
    text: `“${tenant.name}” is enabled.`,
  })
})

adminTenantActions.get('/:id/remove', async (c) => {
  const tenant = await getTenant(c.get('deps').db, idParam(c))
  return c.html(<RemoveTenantPage ctx={pageCtx(c)} tenant={tenant} />)
})

adminTenantActions.post('/:id/remove', async (c) => {
  const { db, config } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  if (str(await readForm(c), 'confirmName').trim() !== tenant.name) {
    const error = `Type ${tenant.name} exactly to confirm.`
    return c.html(<RemoveTenantPage ctx={pageCtx(c)} tenant={tenant} error={error} />, 422)
  }
  let kept
  try {
    kept = await removeTenant(db, tenant)
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err
    return redirectTo(c, `/admin/tenants/${tenant.id}`, { kind: 'error', text: err.message })
  }
  const moved = await retireTenantFiles(db, config, tenant.name)
  await auditWeb(c, 'tenant.remove', {
    target: tenant.name,
    details: { destinationsKept: kept.length },
  })
  const where = moved ? ` Its backups on this server are now in ${moved}.` : ''
  return redirectTo(c, '/admin/tenants', {
    kind: 'ok',
    text: `Tenant “${tenant.name}” removed. Its home, system user and stored backups were left in place.${where}`,
  })
})
