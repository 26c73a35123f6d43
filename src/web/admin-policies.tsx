import { Hono } from 'hono'
import { listProviderDestinations } from '../db/provider-destinations.ts'
import {
  getProviderPolicy,
  listProviderPolicies,
  type ProviderPolicyWithLinks,
} from '../db/provider-policies.ts'
import { tenantsCovered } from '../db/provider-coverage.ts'
import {
  newProviderPolicyInput,
  providerPolicyInput,
  removeProviderPolicy,
  saveProviderPolicy,
  type ProviderPolicyInput,
} from '../domain/provider-policies.ts'
import { RETENTION } from '../domain/policies.ts'
import { InputError } from '../errors.ts'
import { serverZone } from '../zoned.ts'
import {
  AdminPoliciesPage,
  DeletePolicyPage,
  ProviderPolicyForm,
  ProviderPolicyFormPage,
  tenantsWords,
  type ProviderPolicyFormProps,
} from '../../views/admin-policies.tsx'
import { KeepsPreview, type KeepValues } from '../../views/policies.tsx'
import { auditWeb } from './audit-trail.ts'
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
} from './context.ts'

/**
 * Admin > Backup policies (`/admin/policies`): backups the host runs for all tenants or the
 * tenants of one plan, on provider destinations. Mounted behind the admin guard.
 */
export const adminPolicyRoutes = new Hono<AppEnv>()

const BASE = '/admin/policies'

function policyInput(form: Form): ProviderPolicyInput {
  const input: ProviderPolicyInput = {
    ...newProviderPolicyInput(),
    name: str(form, 'name'),
    scope: str(form, 'scope'),
    plan: str(form, 'plan'),
    includeHome: has(form, 'includeHome'),
    includeDatabases: has(form, 'includeDatabases'),
    exclude: str(form, 'exclude'),
    windowStart: str(form, 'windowStart').trim(),
    windowEnd: str(form, 'windowEnd').trim(),
    enabled: has(form, 'enabled'),
    destinationIds: ids(form, 'destinations'),
  }
  for (const f of RETENTION) input[f] = str(form, f)
  return input
}

async function formProps(
  c: Ctx,
  values: ProviderPolicyInput,
  errors: Record<string, string>,
  id?: number,
): Promise<ProviderPolicyFormProps> {
  const { db, drivers } = c.get('deps')
  const destinations = (await listProviderDestinations(db)).map((d) => ({
    id: d.id,
    label: d.name,
    hint: drivers[d.type]?.label ?? d.type,
  }))
  return { csrf: c.get('csrf'), id, values, errors, destinations, zone: serverZone() }
}

async function withTenants(c: Ctx, p: ProviderPolicyWithLinks) {
  return { ...p, tenants: (await tenantsCovered(c.get('deps').db)).get(p.id) ?? 0 }
}

adminPolicyRoutes.get('/', async (c) => {
  const { db } = c.get('deps')
  const covered = await tenantsCovered(db)
  const policies = (await listProviderPolicies(db)).map((p) => ({
    ...p,
    tenants: covered.get(p.id) ?? 0,
  }))
  return c.html(
    <AdminPoliciesPage
      ctx={pageCtx(c)}
      policies={policies}
      zone={serverZone()}
      hasDestinations={(await listProviderDestinations(db)).length > 0}
    />,
  )
})

// What the retention numbers keep, in one line, as they are typed.
adminPolicyRoutes.get('/keeps-preview', (c) => {
  const q = c.req.query()
  const values = Object.fromEntries(RETENTION.map((f) => [f, (q[f] ?? '').slice(0, 12)]))
  return c.html(<KeepsPreview values={values as KeepValues} />)
})

adminPolicyRoutes.get('/new', async (c) => {
  const values = newProviderPolicyInput()
  const props = await formProps(c, values, {})
  if (props.destinations.length === 1) values.destinationIds = [props.destinations[0]!.id]
  return c.html(<ProviderPolicyFormPage ctx={pageCtx(c)} form={props} />)
})

async function save(c: Ctx, id: number | null) {
  const input = policyInput(await readForm(c))
  try {
    const saved = await saveProviderPolicy(c.get('deps').db, id, input)
    const name = input.name.trim()
    await auditWeb(c, id ? 'provider-policy.update' : 'provider-policy.create', {
      tenantId: null,
      target: name,
      details: { tenants: saved.tenants },
    })
    const text = `Policy “${name}” ${id ? 'saved' : 'created'}. It now covers ${tenantsWords(saved.tenants)}.`
    return redirectTo(c, BASE, { kind: 'ok', text })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    const props = await formProps(c, input, err.errors, id ?? undefined)
    if (isHtmx(c)) return c.html(<ProviderPolicyForm {...props} />, 422)
    return c.html(<ProviderPolicyFormPage ctx={pageCtx(c)} form={props} />, 422)
  }
}

adminPolicyRoutes.post('/', (c) => save(c, null))

adminPolicyRoutes.get('/:id', async (c) => {
  const policy = await getProviderPolicy(c.get('deps').db, idParam(c))
  const props = await formProps(c, providerPolicyInput(policy), {}, policy.id)
  return c.html(<ProviderPolicyFormPage ctx={pageCtx(c)} form={props} />)
})

adminPolicyRoutes.post('/:id', async (c) => {
  const policy = await getProviderPolicy(c.get('deps').db, idParam(c))
  return save(c, policy.id)
})

adminPolicyRoutes.get('/:id/delete', async (c) => {
  const policy = await getProviderPolicy(c.get('deps').db, idParam(c))
  return c.html(<DeletePolicyPage ctx={pageCtx(c)} policy={await withTenants(c, policy)} />)
})

/** Deletes only with `confirm=yes` from the confirmation page; anything else is sent there. */
adminPolicyRoutes.post('/:id/delete', async (c) => {
  const { db } = c.get('deps')
  const policy = await getProviderPolicy(db, idParam(c))
  if (str(await readForm(c), 'confirm') !== 'yes')
    return redirectTo(c, `${BASE}/${policy.id}/delete`)
  const { tenants } = await withTenants(c, policy)
  await removeProviderPolicy(db, policy.id)
  await auditWeb(c, 'provider-policy.delete', {
    tenantId: null,
    target: policy.name,
    details: { tenants },
  })
  return redirectTo(c, BASE, { kind: 'ok', text: `Policy “${policy.name}” deleted.` })
})
