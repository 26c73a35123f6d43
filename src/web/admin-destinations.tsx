import { Hono } from 'hono'
import {
  deleteProviderDestination,
  getProviderDestination,
  listProviderDestinations,
  providerPoliciesUsing,
  readProviderSecrets,
  tenantCopies,
} from '../db/provider-destinations.ts'
import { localRootOf } from '../db/settings.ts'
import {
  HOST_CONTEXT_NAME,
  describeProviderDestination,
  mergeProviderDestination,
  saveProviderDestination,
} from '../domain/provider-destinations.ts'
import { testSettings, type TestResult } from '../domain/test-connection.ts'
import { isSecret } from '../drivers/spec.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import { DestinationForm, DestinationFormPage, TypePickerPage } from '../../views/destinations.tsx'
import { AdminDestinationsPage } from '../../views/admin-destinations.tsx'
import { auditWeb } from './audit-trail.ts'
import { echoValues, settingsInput } from './destinations.tsx'
import { askToConfirm, confirmed } from './confirm.tsx'
import {
  type AppEnv,
  type Ctx,
  idParam,
  isHtmx,
  pageCtx,
  readForm,
  redirectTo,
  str,
} from './context.ts'

/**
 * Admin > Destinations (`/admin/destinations`): the host's own storage that provider backup
 * policies send to. Every registered type may be added; the types tenants may add do not apply.
 * Mounted behind the admin guard.
 */
export const adminDestinationRoutes = new Hono<AppEnv>()

const BASE = '/admin/destinations'

// Connect (an OAuth sign-in) is built around a tenant's own destination and its cookie path.
const CONNECT_NOTE =
  'Connecting from the admin pages is not available yet: the sign-in only works on a tenant’s ' +
  'own destination. To use this type for provider backups, paste a refresh token under ' +
  'Advanced settings.'

function secretDeps(c: Ctx) {
  const { db, config, drivers } = c.get('deps')
  return { db, drivers, secretKey: config.secretKey }
}

function driverOf(c: Ctx, type: string) {
  const driver = c.get('deps').drivers[type]
  if (!driver) throw new NotFoundError('That destination type')
  return driver
}

function newTypeOf(c: Ctx): string {
  const type = c.req.param('type') ?? ''
  driverOf(c, type)
  return type
}

type FormProps = Parameters<typeof DestinationForm>[0]

function formPage(c: Ctx, form: FormProps, status: 200 | 422 = 200) {
  return c.html(
    <DestinationFormPage ctx={pageCtx(c)} form={form} connectNote={CONNECT_NOTE} />,
    status,
  )
}

/** After a POST: the whole page, or for htmx the form alone. */
function formAnswer(c: Ctx, form: FormProps, status: 200 | 422 = 200) {
  if (isHtmx(c)) return c.html(<DestinationForm {...form} />, status)
  return formPage(c, form, status)
}

adminDestinationRoutes.get('/', async (c) => {
  const deps = secretDeps(c)
  const rows = []
  for (const d of await listProviderDestinations(deps.db))
    rows.push({
      ...describeProviderDestination(deps, d),
      usedBy: await providerPoliciesUsing(deps.db, d.id),
      tenants: await tenantCopies(deps.db, d.id),
    })
  return c.html(<AdminDestinationsPage ctx={pageCtx(c)} rows={rows} drivers={deps.drivers} />)
})

adminDestinationRoutes.get('/new', (c) =>
  c.html(<TypePickerPage ctx={pageCtx(c)} drivers={c.get('deps').drivers} base={BASE} />),
)

adminDestinationRoutes.get('/new/:type', (c) => {
  const type = newTypeOf(c)
  const driver = driverOf(c, type)
  const values = Object.fromEntries(
    driver.settings.map((f) => [f.name, isSecret(f) ? false : (f.default ?? '')]),
  )
  return formPage(c, {
    csrf: c.get('csrf'),
    base: BASE,
    type,
    driver,
    name: '',
    values,
    errors: {},
  })
})

/** The stored values of a saved destination (secrets as "is set"), or none for a new one. */
async function storedOf(c: Ctx, id: number | null): Promise<Record<string, unknown>> {
  if (id === null) return {}
  const deps = secretDeps(c)
  return describeProviderDestination(deps, await getProviderDestination(deps.db, id)).values
}

async function save(c: Ctx, type: string, id: number | null) {
  const form = await readForm(c)
  const raw = settingsInput(form, type, c)
  const name = str(form, 'name')
  try {
    const dest = await saveProviderDestination(secretDeps(c), type, id, { name, settings: raw })
    await auditWeb(c, id ? 'provider-destination.update' : 'provider-destination.create', {
      tenantId: null,
      target: dest.name,
      details: { type },
    })
    const text = id ? `Destination “${dest.name}” saved.` : `Destination “${dest.name}” added.`
    return redirectTo(c, BASE, { kind: 'ok', text })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    const props = {
      csrf: c.get('csrf'),
      base: BASE,
      type,
      driver: driverOf(c, type),
      id: id ?? undefined,
      name,
      values: echoValues(c, type, raw, await storedOf(c, id)),
      errors: err.errors,
    }
    return formAnswer(c, props, 422)
  }
}

/** Test connection as tenants get it, as the host (HOST_CONTEXT_NAME) with the stored secrets. */
async function test(c: Ctx, type: string, id: number | null) {
  const form = await readForm(c)
  const raw = settingsInput(form, type, c)
  const deps = secretDeps(c)
  const existing = id === null ? null : await getProviderDestination(deps.db, id)
  const stored = existing ? readProviderSecrets(deps.secretKey, existing) : {}
  const localRoot = await localRootOf(deps.db, c.get('deps').config)
  const result: TestResult = await testSettings(
    { ...deps, localRoot },
    HOST_CONTEXT_NAME,
    type,
    raw,
    stored,
  )
  const pinned = result.ok ? result.pinned : {}
  await auditWeb(c, 'provider-destination.test', {
    tenantId: null,
    target: existing?.name ?? (str(form, 'name').trim() || null),
    details: { type, ok: result.ok },
  })
  // Pinned on first contact (an SSH host key): stored now, checked on every connection after.
  if (existing && Object.keys(pinned).length)
    await mergeProviderDestination(deps, existing.id, { settings: pinned })
  const props = {
    csrf: c.get('csrf'),
    base: BASE,
    type,
    driver: driverOf(c, type),
    id: id ?? undefined,
    name: str(form, 'name'),
    // A new destination keeps the pin in its form, so Add destination stores it.
    values: { ...echoValues(c, type, raw, await storedOf(c, id)), ...pinned },
    errors: result.ok ? {} : (result.errors ?? {}),
    testResult: result,
  }
  return formAnswer(c, props)
}

adminDestinationRoutes.post('/new/:type', (c) => save(c, newTypeOf(c), null))
adminDestinationRoutes.post('/new/:type/test', (c) => test(c, newTypeOf(c), null))

adminDestinationRoutes.get('/:id', async (c) => {
  const deps = secretDeps(c)
  const dest = describeProviderDestination(deps, await getProviderDestination(deps.db, idParam(c)))
  return formPage(c, {
    csrf: c.get('csrf'),
    base: BASE,
    type: dest.type,
    driver: driverOf(c, dest.type),
    id: dest.id,
    name: dest.name,
    values: dest.values,
    errors: {},
  })
})

adminDestinationRoutes.post('/:id', async (c) => {
  const dest = await getProviderDestination(c.get('deps').db, idParam(c))
  return save(c, dest.type, dest.id)
})

adminDestinationRoutes.post('/:id/test', async (c) => {
  const dest = await getProviderDestination(c.get('deps').db, idParam(c))
  return test(c, dest.type, dest.id)
})

adminDestinationRoutes.post('/:id/delete', async (c) => {
  const { db } = c.get('deps')
  const dest = await getProviderDestination(db, idParam(c))
  // In use: refused below at once; otherwise "are you sure?" first.
  if (!(await providerPoliciesUsing(db, dest.id)).length && !(await confirmed(c))) {
    const copies = await tenantCopies(db, dest.id)
    return askToConfirm(c, {
      title: `Delete the destination “${dest.name}”?`,
      points: [
        'The panel forgets this storage and its credentials; no backup policy can send backups there.',
        copies
          ? `${copies === 1 ? 'The one tenant' : `All ${copies} tenants`} with backups there lose ${copies === 1 ? 'its' : 'their'} copy of it: the backups stay on the storage, but the panel no longer lists or restores them.`
          : 'No tenant has a copy of it.',
        'Nothing stored there is deleted.',
      ],
      button: 'Yes, delete the destination',
      cancel: BASE,
      active: 'destinations',
    })
  }
  try {
    await deleteProviderDestination(db, dest.id)
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err
    // In this page's words ("backup policies"), naming them.
    const users = (await providerPoliciesUsing(db, dest.id)).map((n) => `“${n}”`)
    const text = users.length
      ? `“${dest.name}” cannot be deleted: the backup ${users.length === 1 ? 'policy' : 'policies'} ${users.join(', ')} ${users.length === 1 ? 'sends' : 'send'} backups there. Take it out of ${users.length === 1 ? 'that policy' : 'those policies'} first.`
      : err.message
    return redirectTo(c, BASE, { kind: 'error', text })
  }
  await auditWeb(c, 'provider-destination.delete', {
    tenantId: null,
    target: dest.name,
    details: { type: dest.type },
  })
  return redirectTo(c, BASE, { kind: 'ok', text: `Destination “${dest.name}” deleted.` })
})
