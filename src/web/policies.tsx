import { Hono } from 'hono'
import { listDestinations } from '../db/destinations.ts'
import { deletePolicy, getOwnPolicy, getPolicy, listPolicies } from '../db/policies.ts'
import { listTenantDatabases } from '../db/tenants.ts'
import {
  RETENTION,
  cronOf,
  newPolicyInput,
  savePolicy,
  type PolicyInput,
} from '../domain/policies.ts'
import { InputError } from '../errors.ts'
import { presetOf } from '../schedule.ts'
import {
  PoliciesPage,
  PolicyForm,
  PolicyFormPage,
  ScheduleFragment,
  KeepsPreview,
  type KeepValues,
  type PolicyFormProps,
} from '../../views/policies.tsx'
import { auditWeb } from './audit-trail.ts'
import { askToConfirm, confirmed } from './confirm.tsx'
import {
  type AppEnv,
  type Ctx,
  type Form,
  has,
  idParam,
  ids,
  isHtmx,
  pageCtx,
  readForm,
  redirectTo,
  str,
  tenantOf,
} from './context.ts'
import type { PolicyWithLinks } from '../db/policies.ts'

export const policyRoutes = new Hono<AppEnv>()

function policyInput(form: Form, timezone: string): PolicyInput {
  const input: PolicyInput = {
    name: str(form, 'name'),
    includeHome: has(form, 'includeHome'),
    include: str(form, 'include'),
    exclude: str(form, 'exclude'),
    includePanelSettings: has(form, 'includePanelSettings'),
    databaseIds: ids(form, 'databases'),
    destinationIds: ids(form, 'destinations'),
    preset: str(form, 'preset') || 'custom',
    cron: str(form, 'cron'),
    timezone: str(form, 'timezone') || timezone,
    keepLast: '',
    keepDaily: '',
    keepWeekly: '',
    keepMonthly: '',
    keepYearly: '',
    enabled: has(form, 'enabled'),
  }
  for (const f of RETENTION) input[f] = str(form, f)
  return input
}

function inputOf(p: PolicyWithLinks): PolicyInput {
  return {
    name: p.name,
    includeHome: p.includeHome,
    include: p.includeGlobs.join('\n'),
    exclude: p.excludeGlobs.join('\n'),
    includePanelSettings: p.includePanelSettings,
    databaseIds: p.databases.map((d) => d.id),
    destinationIds: p.destinations.map((d) => d.id),
    preset: presetOf(p.schedule),
    cron: p.schedule,
    timezone: p.timezone,
    keepLast: String(p.keepLast),
    keepDaily: String(p.keepDaily),
    keepWeekly: String(p.keepWeekly),
    keepMonthly: String(p.keepMonthly),
    keepYearly: String(p.keepYearly),
    enabled: p.enabled,
  }
}

async function formProps(
  c: Ctx,
  values: PolicyInput,
  errors: Record<string, string>,
  id?: number,
): Promise<PolicyFormProps> {
  const { db, drivers } = c.get('deps')
  const tenant = tenantOf(c)
  // The host's storage is for the host's policies: a tenant's own policy uses its own.
  const own = (await listDestinations(db, tenant.id)).filter(
    (d) => d.providerDestinationId === null,
  )
  const destinations = own.map((d) => ({
    id: d.id,
    label: d.name,
    hint: drivers[d.type]?.label ?? d.type,
  }))
  const databases = (await listTenantDatabases(db, tenant.id)).map((d) => ({
    id: d.id,
    label: d.name,
    hint: d.engine === 'mariadb' ? 'MariaDB' : 'PostgreSQL',
  }))
  return { csrf: c.get('csrf'), id, values, errors, destinations, databases }
}

policyRoutes.get('/', async (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const hasDestinations = (await listDestinations(db, tenant.id)).some(
    (d) => d.providerDestinationId === null,
  )
  return c.html(
    <PoliciesPage
      ctx={pageCtx(c)}
      policies={await listPolicies(db, tenant.id)}
      hasDestinations={hasDestinations}
    />,
  )
})

// The schedule in words and its next runs, with each field's problem sent beside that field.
policyRoutes.get('/schedule-preview', (c) => {
  const q = c.req.query()
  const cron = cronOf({ preset: q.preset ?? 'custom', cron: q.cron ?? '' })
  return c.html(<ScheduleFragment cron={cron} timezone={q.timezone ?? tenantOf(c).timezone} />)
})

// What the retention numbers keep, in one line, as they are typed.
policyRoutes.get('/keeps-preview', (c) => {
  const q = c.req.query()
  const values = Object.fromEntries(RETENTION.map((f) => [f, (q[f] ?? '').slice(0, 12)]))
  return c.html(<KeepsPreview values={values as KeepValues} />)
})

policyRoutes.get('/new', async (c) => {
  const values = newPolicyInput(tenantOf(c).timezone)
  const props = await formProps(c, values, {})
  if (props.destinations.length === 1) values.destinationIds = [props.destinations[0]!.id]
  return c.html(<PolicyFormPage ctx={pageCtx(c)} form={props} />)
})

async function save(c: Ctx, id: number | null) {
  const tenant = tenantOf(c)
  const input = policyInput(await readForm(c), tenant.timezone)
  try {
    await savePolicy(c.get('deps').db, tenant.id, id, input)
    await auditWeb(c, id ? 'policy.update' : 'policy.create', { target: input.name.trim() })
    const text = id
      ? `Policy “${input.name.trim()}” saved.`
      : `Policy “${input.name.trim()}” created.`
    return redirectTo(c, '/backups/policies', { kind: 'ok', text })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    const props = await formProps(c, input, err.errors, id ?? undefined)
    if (isHtmx(c)) return c.html(<PolicyForm {...props} />, 422)
    return c.html(<PolicyFormPage ctx={pageCtx(c)} form={props} />, 422)
  }
}

policyRoutes.post('/', (c) => save(c, null))

policyRoutes.get('/:id', async (c) => {
  const policy = await getOwnPolicy(c.get('deps').db, tenantOf(c).id, idParam(c))
  return c.html(
    <PolicyFormPage ctx={pageCtx(c)} form={await formProps(c, inputOf(policy), {}, policy.id)} />,
  )
})

policyRoutes.post('/:id', async (c) => {
  const policy = await getOwnPolicy(c.get('deps').db, tenantOf(c).id, idParam(c))
  return save(c, policy.id)
})

policyRoutes.post('/:id/delete', async (c) => {
  const tenant = tenantOf(c)
  const policy = await getPolicy(c.get('deps').db, tenant.id, idParam(c))
  // The host's policies are refused at once (deletePolicy), without asking first.
  if (policy.providerPolicyId === null && !(await confirmed(c))) {
    return askToConfirm(c, {
      title: `Delete the policy “${policy.name}”?`,
      points: [
        'Its scheduled backups stop, and it is no longer on your Overview.',
        'Backups it already made are kept: you can still restore and download them on the Restore page.',
      ],
      button: 'Yes, delete the policy',
      cancel: '/backups/policies',
      active: 'settings',
    })
  }
  await deletePolicy(c.get('deps').db, tenant.id, policy.id)
  await auditWeb(c, 'policy.delete', { target: policy.name })
  return redirectTo(c, '/backups/policies', {
    kind: 'ok',
    text: `Policy “${policy.name}” deleted.`,
  })
})
