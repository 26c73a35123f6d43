import { Hono } from 'hono'
import { deleteTenantDatabase, getTenant, listTenantDatabases } from '../db/tenants.ts'
import { createTenant, editTenant, setTenantDisabled, type TenantInput } from '../domain/tenants.ts'
import { assignDatabase } from '../domain/databases.ts'
import { InputError, NotFoundError } from '../errors.ts'
import {
  DatabasesCard,
  EditTenantPage,
  NewTenantPage,
  TenantForm,
  type TenantFormValues,
} from '../../views/admin-tenants.tsx'
import { adminHealthRoutes } from './admin-health.tsx'
import { adminTenantActions } from './admin-tenant-actions.tsx'
import { askToConfirm, confirmed } from './confirm.tsx'
import { tenantWarnings } from '../domain/tenant-checks.ts'
import {
  type AppEnv,
  type Form,
  all,
  has,
  idParam,
  isHtmx,
  pageCtx,
  readForm,
  redirectTo,
  str,
} from './context.ts'
import { getAdminSettings, setAdminSetting } from '../db/settings.ts'
import { AdminSettingsPage } from '../../views/admin-settings.tsx'
import { adminEmailCard, adminEmailRoutes } from './admin-email.tsx'
import { isIP } from 'node:net'
import { adminRunnerRoutes } from './admin-runner.tsx'
import { adminPanelBackupRoutes } from './admin-panel-backup.tsx'
import { adminLimitsRoutes, limitsFromForm, tenantLimitsCard } from './admin-limits.tsx'
import { limitsText, parseLimits, saveLimitSettings } from '../domain/limit-settings.ts'
import { PanelLimitsFields } from '../../views/limits.tsx'
import { auditWeb } from './audit-trail.ts'
import { adminTokenCard, adminTokenRoutes } from './admin-token.tsx'
import { adminDestinationRoutes } from './admin-destinations.tsx'
import { adminPolicyRoutes } from './admin-policies.tsx'

export const adminRoutes = new Hono<AppEnv>()

adminRoutes.use('*', async (c, next) => {
  const { user } = c.get('auth')
  if (!user) return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`)
  if (user.role !== 'admin') throw new NotFoundError()
  await next()
})

adminRoutes.route('/runner', adminRunnerRoutes)
adminRoutes.route('/panel-backup', adminPanelBackupRoutes)
adminRoutes.route('/settings/email', adminEmailRoutes)
adminRoutes.route('/destinations', adminDestinationRoutes)
adminRoutes.route('/policies', adminPolicyRoutes)

function tenantInput(form: Form): TenantInput {
  return {
    name: str(form, 'name').trim().toLowerCase(),
    password: str(form, 'password'),
    homeDir: str(form, 'homeDir').trim(),
    systemUser: str(form, 'systemUser').trim(),
    timezone: str(form, 'timezone') || 'UTC',
    // Absent (a script posting the older form): the plan stays as it is.
    plan: has(form, 'plan') ? str(form, 'plan').trim() : undefined,
    node: has(form, 'node') ? str(form, 'node').trim() : undefined,
  }
}

function formValues(input: TenantInput): TenantFormValues {
  const { password: _, plan, node, ...values } = input
  return { ...values, plan: plan ?? '', node: node ?? '' }
}

adminRoutes.get('/', (c) => c.redirect('/admin/tenants'))

// The Tenants list (backup health) and the drill-down into a tenant's runs.
adminRoutes.route('/', adminHealthRoutes)

adminRoutes.get('/tenants/new', (c) => {
  const values = { name: '', homeDir: '', systemUser: '', timezone: 'UTC', plan: '', node: '' }
  return c.html(<NewTenantPage ctx={pageCtx(c)} values={values} errors={{}} />)
})

adminRoutes.post('/tenants', async (c) => {
  const input = tenantInput(await readForm(c))
  try {
    const tenant = await createTenant(c.get('deps').db, input)
    await auditWeb(c, 'tenant.create', { tenantId: tenant.id, target: tenant.name })
    return redirectTo(c, `/admin/tenants/${tenant.id}`, {
      kind: 'ok',
      text: `Tenant “${tenant.name}” added.`,
    })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    const values = formValues(input)
    if (isHtmx(c))
      return c.html(<TenantForm csrf={c.get('csrf')} values={values} errors={err.errors} />, 422)
    return c.html(<NewTenantPage ctx={pageCtx(c)} values={values} errors={err.errors} />, 422)
  }
})

adminRoutes.get('/tenants/:id', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  const values = {
    name: tenant.name,
    homeDir: tenant.homeDir,
    systemUser: tenant.systemUser ?? '',
    timezone: tenant.timezone,
    plan: tenant.plan ?? '',
    node: tenant.node ?? '',
  }
  return c.html(
    <EditTenantPage
      ctx={pageCtx(c)}
      tenant={tenant}
      values={values}
      errors={{}}
      // The home and system user are checked where the tenant lives: this server, or its node.
      warnings={(tenant.node ?? null) === c.get('deps').config.node ? tenantWarnings(tenant) : []}
      databases={await listTenantDatabases(db, tenant.id)}
      extra={
        <>
          {await tenantLimitsCard(c, tenant)}
          {await adminTokenCard(c, tenant)}
        </>
      }
    />,
  )
})

adminRoutes.route('/tenants', adminTokenRoutes)
adminRoutes.route('/tenants', adminLimitsRoutes)

adminRoutes.post('/tenants/:id', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  const typed = tenantInput(await readForm(c))
  const input = {
    ...typed,
    name: tenant.name,
    plan: typed.plan ?? tenant.plan ?? '',
    node: typed.node ?? tenant.node ?? '',
  }
  try {
    await editTenant(db, tenant.id, input)
    // Which fields changed, never their values (the password least of all).
    const before = {
      homeDir: tenant.homeDir,
      systemUser: tenant.systemUser ?? '',
      timezone: tenant.timezone,
      plan: tenant.plan ?? '',
      node: tenant.node ?? '',
    }
    const changed: string[] = (Object.keys(before) as (keyof typeof before)[]).filter(
      (k) => before[k] !== input[k],
    )
    if (input.password) changed.push('password')
    await auditWeb(c, 'tenant.update', {
      tenantId: tenant.id,
      target: tenant.name,
      details: { changed },
    })
    return redirectTo(c, `/admin/tenants/${tenant.id}`, { kind: 'ok', text: 'Tenant saved.' })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    const values = formValues(input)
    if (isHtmx(c)) {
      return c.html(
        <TenantForm
          csrf={c.get('csrf')}
          values={values}
          errors={err.errors}
          tenantId={tenant.id}
        />,
        422,
      )
    }
    const dbs = await listTenantDatabases(db, tenant.id)
    const extra = (
      <>
        {await tenantLimitsCard(c, tenant)}
        {await adminTokenCard(c, tenant)}
      </>
    )
    return c.html(
      <EditTenantPage
        ctx={pageCtx(c)}
        tenant={tenant}
        values={values}
        errors={err.errors}
        databases={dbs}
        extra={extra}
      />,
      422,
    )
  }
})

adminRoutes.route('/tenants', adminTenantActions)

adminRoutes.post('/tenants/:id/databases', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  const form = await readForm(c)
  const name = str(form, 'name').trim()
  const engine = str(form, 'engine') === 'postgresql' ? 'postgresql' : 'mariadb'
  let error: string | undefined
  try {
    await assignDatabase(db, c.get('deps').config.secretKey, tenant.id, {
      engine,
      name,
      host: str(form, 'host'),
      port: str(form, 'port'),
      username: str(form, 'username'),
      password: str(form, 'password'),
    })
    await auditWeb(c, 'database.assign', {
      tenantId: tenant.id,
      target: name,
      details: { tenant: tenant.name, engine },
    })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    error = err.message
  }
  if (!isHtmx(c)) {
    const flash = error
      ? { kind: 'error' as const, text: error }
      : { kind: 'ok' as const, text: `Database “${name}” assigned.` }
    return redirectTo(c, `/admin/tenants/${tenant.id}`, flash)
  }
  const card = (
    <DatabasesCard
      csrf={c.get('csrf')}
      tenantId={tenant.id}
      databases={await listTenantDatabases(db, tenant.id)}
      error={error}
      name={error ? name : ''}
      engine={engine}
    />
  )
  return c.html(card)
})

adminRoutes.post('/tenants/:id/databases/:dbId/delete', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  const dbId = idParam(c, 'dbId')
  const removed = (await listTenantDatabases(db, tenant.id)).find((d) => d.id === dbId)
  if (!removed) throw new NotFoundError('That database')
  if (!(await confirmed(c))) {
    return askToConfirm(c, {
      title: `Remove the database “${removed.name}” from ${tenant.name}?`,
      points: [
        `${tenant.name} can no longer back it up: its policies stop dumping it from the next backup on.`,
        'The database itself is not touched, and dumps already in backups stay restorable.',
      ],
      button: 'Yes, remove it from the tenant',
      cancel: `/admin/tenants/${tenant.id}`,
      active: 'tenants',
    })
  }
  await deleteTenantDatabase(db, tenant.id, dbId)
  await auditWeb(c, 'database.remove', {
    tenantId: tenant.id,
    target: removed.name,
    details: { tenant: tenant.name, engine: removed.engine },
  })
  if (!isHtmx(c))
    return redirectTo(c, `/admin/tenants/${tenant.id}`, { kind: 'ok', text: 'Database removed.' })
  return c.html(
    <DatabasesCard
      csrf={c.get('csrf')}
      tenantId={tenant.id}
      databases={await listTenantDatabases(db, tenant.id)}
    />,
  )
})

adminRoutes.get('/settings', async (c) => {
  const { db, drivers } = c.get('deps')
  const s = await getAdminSettings(db)
  const allowed = s.allowedTypes ?? Object.keys(drivers)
  const limits = (
    <PanelLimitsFields
      values={limitsText(s)}
      errors={{}}
      configuredRoot={c.get('deps').config.localRoot}
    />
  )
  return c.html(
    <AdminSettingsPage
      ctx={pageCtx(c)}
      drivers={drivers}
      allowed={allowed}
      allowlist={s.outboundAllow.join('\n')}
      errors={{}}
      notices={adminEmailCard(c)}
      limits={limits}
    />,
  )
})

/** A host name, an IP address, or a CIDR range. */
function allowEntryProblem(entry: string): string | undefined {
  const [net, bits, extra] = entry.split('/')
  if (extra !== undefined) return `“${entry}” is not a host or range.`
  if (bits !== undefined) {
    const max = isIP(net!) === 6 ? 128 : isIP(net!) === 4 ? 32 : -1
    if (max < 0 || !/^\d+$/.test(bits) || Number(bits) > max)
      return `“${entry}” is not a valid range like 10.0.5.0/24.`
    return undefined
  }
  if (isIP(entry) || /^(?=.{1,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(entry)) return undefined
  return `“${entry}” is not a host name or address.`
}

adminRoutes.post('/settings', async (c) => {
  const { db, drivers } = c.get('deps')
  const before: Record<string, unknown> = await getAdminSettings(db)
  const form = await readForm(c)
  const types = all(form, 'types').filter((t) => t in drivers)
  const entries = str(form, 'allowlist')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
  const errors: Record<string, string> = {}
  const bad = entries.map(allowEntryProblem).find(Boolean)
  if (bad) errors.allowlist = bad
  if (!types.length) errors.types = 'Allow at least one destination type.'
  const typedLimits = limitsFromForm(form)
  const limits = await parseLimits(db, typedLimits, errors)
  if (Object.keys(errors).length) {
    const fields = (
      <PanelLimitsFields
        values={typedLimits}
        errors={errors}
        configuredRoot={c.get('deps').config.localRoot}
      />
    )
    const page = (
      <AdminSettingsPage
        ctx={pageCtx(c)}
        drivers={drivers}
        allowed={types}
        allowlist={str(form, 'allowlist')}
        errors={errors}
        notices={adminEmailCard(c)}
        limits={fields}
      />
    )
    return c.html(page, 422)
  }
  await setAdminSetting(
    db,
    'allowedTypes',
    types.length === Object.keys(drivers).length ? null : types,
  )
  await setAdminSetting(db, 'outboundAllow', entries)
  await saveLimitSettings(db, limits)
  const after = await getAdminSettings(db)
  // The names of the settings that changed, not their values.
  const keys = Object.keys(after).filter(
    (k) => JSON.stringify(before[k]) !== JSON.stringify((after as Record<string, unknown>)[k]),
  )
  await auditWeb(c, 'settings.update', { tenantId: null, details: { changed: keys } })
  return redirectTo(c, '/admin/settings', { kind: 'ok', text: 'Limits saved.' })
})
