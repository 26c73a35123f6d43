import { Hono } from 'hono'
import {
  deleteDestination,
  getDestination,
  getOwnDestination,
  listDestinations,
  policiesUsing,
} from '../db/destinations.ts'
import { describeDestination, mergeDestination, saveDestination } from '../domain/destinations.ts'
import { isSecret } from '../drivers/spec.ts'
import { ConflictError, InputError, NotFoundError } from '../errors.ts'
import { localRootOf, typeAllowed } from '../db/settings.ts'
import { testConnection } from '../domain/test-connection.ts'
import {
  DestinationForm,
  DestinationFormPage,
  DestinationsPage,
  TypePickerPage,
} from '../../views/destinations.tsx'
import { auditWeb } from './audit-trail.ts'
import { askToConfirm, confirmed } from './confirm.tsx'
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
  tenantOf,
} from './context.ts'

export const destinationRoutes = new Hono<AppEnv>()

function secretDeps(c: Ctx) {
  const { db, config, drivers } = c.get('deps')
  return { db, drivers, secretKey: config.secretKey }
}

function driverOf(c: Ctx, type: string) {
  const driver = c.get('deps').drivers[type]
  if (!driver) throw new NotFoundError('That destination type')
  return driver
}

/** The types the admin lets tenants add. */
async function allowedDrivers(c: Ctx) {
  const { db, drivers } = c.get('deps')
  const allowed = []
  for (const [type, driver] of Object.entries(drivers))
    if (await typeAllowed(db, type)) allowed.push([type, driver] as const)
  return Object.fromEntries(allowed)
}

async function newTypeOf(c: Ctx): Promise<string> {
  const type = c.req.param('type') ?? ''
  driverOf(c, type)
  if (!(await typeAllowed(c.get('deps').db, type))) {
    throw new ConflictError('Your hosting provider does not allow this destination type.')
  }
  return type
}

/** The `s.<field>` inputs of the form, as raw text keyed by spec field name. */
export function settingsInput(
  form: Form,
  type: string,
  c: Ctx,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const f of driverOf(c, type).settings) {
    const key = `s.${f.name}`
    out[f.name] = form[key] === undefined ? undefined : str(form, key)
  }
  return out
}

/** Re-render values after an error: what was typed, except secrets, which only say "stored". */
export function echoValues(
  c: Ctx,
  type: string,
  raw: Record<string, string | undefined>,
  stored: Record<string, unknown>,
) {
  const values: Record<string, unknown> = {}
  for (const f of driverOf(c, type).settings) {
    values[f.name] = isSecret(f)
      ? stored[f.name] === true
      : f.type === 'checkbox'
        ? raw[f.name] !== undefined
        : raw[f.name]
  }
  return values
}

destinationRoutes.get('/', async (c) => {
  const tenant = tenantOf(c)
  const deps = secretDeps(c)
  const rows = []
  for (const d of await listDestinations(deps.db, tenant.id))
    rows.push({
      // The host's storage: name and type only, never its settings.
      ...(d.providerDestinationId === null
        ? describeDestination(deps, tenant.id, d)
        : { ...d, values: {} }),
      usedBy: await policiesUsing(deps.db, tenant.id, d.id),
    })
  return c.html(<DestinationsPage ctx={pageCtx(c)} rows={rows} drivers={deps.drivers} />)
})

destinationRoutes.get('/new', async (c) =>
  c.html(<TypePickerPage ctx={pageCtx(c)} drivers={await allowedDrivers(c)} />),
)

destinationRoutes.get('/new/:type', async (c) => {
  const type = await newTypeOf(c)
  const driver = driverOf(c, type)
  const values = Object.fromEntries(
    driver.settings.map((f) => [f.name, isSecret(f) ? false : (f.default ?? '')]),
  )
  const form = { csrf: c.get('csrf'), type, driver, name: '', values, errors: {} }
  return c.html(<DestinationFormPage ctx={pageCtx(c)} form={form} />)
})

async function save(c: Ctx, type: string, id: number | null) {
  const tenant = tenantOf(c)
  const form = await readForm(c)
  const raw = settingsInput(form, type, c)
  const name = str(form, 'name')
  try {
    const dest = await saveDestination(secretDeps(c), tenant.id, type, id, {
      name,
      settings: raw,
    })
    await auditWeb(c, id ? 'destination.update' : 'destination.create', {
      target: dest.name,
      details: { type },
    })
    const text = id ? `Destination “${dest.name}” saved.` : `Destination “${dest.name}” added.`
    // A destination with a sign-in (`entry.connect`) is not usable until connected: go there.
    const connect = driverOf(c, type).connect
    if (!id && connect) {
      return redirectTo(c, `/backups/destinations/${dest.id}`, {
        kind: 'ok',
        text: `${text} Now press Connect ${connect.service}.`,
      })
    }
    return redirectTo(c, '/backups/destinations', { kind: 'ok', text })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    const stored = id
      ? describeDestination(
          secretDeps(c),
          tenant.id,
          await getDestination(c.get('deps').db, tenant.id, id),
        ).values
      : {}
    const props = {
      csrf: c.get('csrf'),
      type,
      driver: driverOf(c, type),
      id: id ?? undefined,
      name,
      values: echoValues(c, type, raw, stored),
      errors: err.errors,
    }
    if (isHtmx(c)) return c.html(<DestinationForm {...props} />, 422)
    return c.html(<DestinationFormPage ctx={pageCtx(c)} form={props} />, 422)
  }
}

destinationRoutes.post('/new/:type', async (c) => save(c, await newTypeOf(c), null))

/** Test connection: re-renders the form (typed values kept) with the result above the buttons. */
async function test(c: Ctx, type: string, id: number | null) {
  const tenant = tenantOf(c)
  const form = await readForm(c)
  const raw = settingsInput(form, type, c)
  const deps = secretDeps(c)
  const existing = id ? await getDestination(deps.db, tenant.id, id) : null
  const result = await testConnection(
    { ...deps, localRoot: await localRootOf(deps.db, c.get('deps').config) },
    tenant,
    type,
    raw,
    existing,
  )
  const pinned = result.ok ? result.pinned : {}
  await auditWeb(c, 'destination.test', {
    target: existing?.name ?? (str(form, 'name').trim() || null),
    details: { type, ok: result.ok },
  })
  if (existing && Object.keys(pinned).length) {
    // Pinned on first contact (an SSH host key): stored now, checked on every connection after.
    await mergeDestination(deps, tenant.id, existing.id, { settings: pinned })
  }
  const stored = existing ? describeDestination(deps, tenant.id, existing).values : {}
  const props = {
    csrf: c.get('csrf'),
    type,
    driver: driverOf(c, type),
    id: id ?? undefined,
    name: str(form, 'name'),
    // A new destination keeps the pin in its form, so Add destination stores it.
    values: { ...echoValues(c, type, raw, stored), ...pinned },
    errors: result.ok ? {} : (result.errors ?? {}),
    testResult: result,
  }
  if (isHtmx(c)) return c.html(<DestinationForm {...props} />)
  return c.html(<DestinationFormPage ctx={pageCtx(c)} form={props} />)
}

destinationRoutes.post('/new/:type/test', async (c) => test(c, await newTypeOf(c), null))

destinationRoutes.get('/:id', async (c) => {
  const tenant = tenantOf(c)
  const dest = await getOwnDestination(c.get('deps').db, tenant.id, idParam(c))
  const shown = describeDestination(secretDeps(c), tenant.id, dest)
  const driver = driverOf(c, dest.type)
  const form = {
    csrf: c.get('csrf'),
    type: dest.type,
    driver,
    id: dest.id,
    name: dest.name,
    values: shown.values,
    errors: {},
  }
  const connected = driver.connect ? shown.values[driver.connect.secret] === true : undefined
  return c.html(<DestinationFormPage ctx={pageCtx(c)} form={form} connected={connected} />)
})

destinationRoutes.post('/:id', async (c) => {
  const dest = await getOwnDestination(c.get('deps').db, tenantOf(c).id, idParam(c))
  return save(c, dest.type, dest.id)
})

destinationRoutes.post('/:id/test', async (c) => {
  const dest = await getOwnDestination(c.get('deps').db, tenantOf(c).id, idParam(c))
  return test(c, dest.type, dest.id)
})

destinationRoutes.post('/:id/delete', async (c) => {
  const tenant = tenantOf(c)
  const dest = await getOwnDestination(c.get('deps').db, tenant.id, idParam(c))
  const users = await policiesUsing(c.get('deps').db, tenant.id, dest.id)
  // A refusal (in use, the host's) comes before "are you sure?": asking first wastes a step.
  const refused = users.length > 0 || dest.providerDestinationId !== null
  if (!refused && !(await confirmed(c))) {
    return askToConfirm(c, {
      title: `Delete the destination “${dest.name}”?`,
      points: [
        'The panel forgets this destination and its settings, and no policy can send backups there.',
        'Backups already stored there are not deleted, but the panel no longer lists or restores them: save its recovery kit first if you may need them.',
      ],
      button: 'Yes, delete the destination',
      cancel: '/backups/destinations',
      active: 'destinations',
    })
  }
  try {
    await deleteDestination(c.get('deps').db, tenant.id, dest.id)
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err
    return redirectTo(c, '/backups/destinations', { kind: 'error', text: err.message })
  }
  await auditWeb(c, 'destination.delete', { target: dest.name, details: { type: dest.type } })
  return redirectTo(c, '/backups/destinations', {
    kind: 'ok',
    text: `Destination “${dest.name}” deleted.`,
  })
})
