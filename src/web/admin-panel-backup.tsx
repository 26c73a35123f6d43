import { Hono } from 'hono'
import {
  ensureSelfBackupPassword,
  getSelfBackupRun,
  getSelfBackupSettings,
  lastSelfBackup,
  requestSelfBackup,
  saveSelfBackupSettings,
  selfBackupPassword,
  selfBackupRequested,
  selfBackupRunning,
} from '../db/self-backup.ts'
import { getProviderDestination, listProviderDestinations } from '../db/provider-destinations.ts'
import { ConflictError, NotFoundError } from '../errors.ts'
import type { EngineDeps } from '../engine/deps.ts'
import { dailyTimeProblem, nextDailyRun } from '../engine/panel/daily.ts'
import { checkOutsideDataDir, secretKeySource, serverTimeZone } from '../engine/panel/panel-repo.ts'
import { runSelfBackup, selfBackupDestination } from '../engine/panel/self-backup.ts'
import {
  AdminPanelBackupPage,
  PanelBackupStatus,
  type PanelBackupValues,
  type PanelBackupView,
} from '../../views/admin-panel-backup.tsx'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, type Ctx, isHtmx, pageCtx, readForm, redirectTo, str } from './context.ts'

/** Admin > Panel backup, mounted under /admin (behind its admin guard) at /admin/panel-backup. */
export const adminPanelBackupRoutes = new Hono<AppEnv>()

async function view(c: Ctx, extra: { values?: PanelBackupValues; revealed?: string | null } = {}) {
  const deps: EngineDeps = c.get('deps')
  const { db, config } = deps
  const settings = await getSelfBackupSettings(db)
  const values = extra.values ?? {
    destinationId: settings.destinationId === null ? '' : String(settings.destinationId),
    time: settings.time,
    enabled: settings.enabled,
  }
  return {
    destinations: (await listProviderDestinations(db)).map(({ id, name, type }) => ({
      id,
      name,
      type,
    })),
    values,
    configured: settings.destinationId !== null,
    last: await lastSelfBackup(db),
    running: await selfBackupRunning(db),
    requested: await selfBackupRequested(db),
    next: nextDailyRun(settings, (await getSelfBackupRun(db)).slot),
    timeZone: serverTimeZone(),
    hasPassword: (await selfBackupPassword(db, config.secretKey)) !== null,
    revealed: extra.revealed ?? null,
    keyFromEnv: secretKeySource(deps) === 'environment',
  } satisfies PanelBackupView
}

adminPanelBackupRoutes.get('/', async (c) =>
  c.html(<AdminPanelBackupPage ctx={pageCtx(c)} view={await view(c)} errors={{}} />),
)

adminPanelBackupRoutes.get('/status', async (c) => {
  if (!isHtmx(c)) return c.redirect('/admin/panel-backup')
  return c.html(<PanelBackupStatus view={await view(c)} />)
})

adminPanelBackupRoutes.post('/', async (c) => {
  const deps: EngineDeps = c.get('deps')
  const form = await readForm(c)
  const values: PanelBackupValues = {
    destinationId: str(form, 'destinationId').trim(),
    time: str(form, 'time').trim().slice(0, 5),
    enabled: str(form, 'enabled') === 'on',
  }
  const errors: Record<string, string> = {}
  const timeProblem = dailyTimeProblem(values.time)
  if (timeProblem) errors.time = timeProblem
  let destinationId: number | null = null
  if (values.destinationId) {
    try {
      const dest = await getProviderDestination(deps.db, Number(values.destinationId) || 0)
      await checkOutsideDataDir(deps, dest)
      destinationId = dest.id
    } catch (err) {
      if (err instanceof NotFoundError)
        errors.destinationId = 'That provider destination no longer exists.'
      else if (err instanceof ConflictError) errors.destinationId = err.message
      else throw err
    }
  } else if (values.enabled) {
    errors.destinationId = 'Choose where the panel backup goes before turning it on.'
  }
  if (Object.keys(errors).length) {
    const page = (
      <AdminPanelBackupPage ctx={pageCtx(c)} view={await view(c, { values })} errors={errors} />
    )
    return c.html(page, 422)
  }
  await saveSelfBackupSettings(deps.db, {
    destinationId,
    time: values.time,
    enabled: values.enabled,
  })
  await auditWeb(c, 'panel.self-backup.settings', {
    tenantId: null,
    details: { destinationId, time: values.time, enabled: values.enabled },
  })
  // The password is made with the first destination and shown in this answer only.
  const made =
    destinationId !== null && (await ensureSelfBackupPassword(deps.db, deps.config.secretKey))
  if (made && made.created) {
    const ctx = {
      ...pageCtx(c),
      flash: { kind: 'ok' as const, text: 'Panel backup settings saved.' },
    }
    return c.html(
      <AdminPanelBackupPage
        ctx={ctx}
        view={await view(c, { revealed: made.password })}
        errors={{}}
      />,
    )
  }
  return redirectTo(c, '/admin/panel-backup', { kind: 'ok', text: 'Panel backup settings saved.' })
})

adminPanelBackupRoutes.post('/run', async (c) => {
  const deps = c.get('deps')
  let dest
  try {
    dest = await selfBackupDestination(deps)
  } catch (err) {
    return redirectTo(c, '/admin/panel-backup', { kind: 'error', text: (err as Error).message })
  }
  const running = (await selfBackupRunning(deps.db)) ?? (await selfBackupRequested(deps.db))
  if (running) {
    const text = 'A panel backup is already running; its result shows here when it ends.'
    return redirectTo(c, '/admin/panel-backup', { kind: 'error', text })
  }
  const made = await ensureSelfBackupPassword(deps.db, deps.config.secretKey)
  await auditWeb(c, 'panel.self-backup', {
    tenantId: null,
    target: dest.name,
    details: { trigger: 'web' },
  })
  let text: string
  if (deps.wake) {
    // This process runs the runner: it backs up at once. The result (also a failure, with why)
    // is recorded for this page.
    runSelfBackup(deps, { trigger: 'web' }).catch((err) =>
      console.error(`[panel backup] ${(err as Error).message}`),
    )
    text = `Panel backup to “${dest.name}” started.`
  } else {
    // Pages only (PANEL_RUNNER=0): the runner's scheduler takes the request at its next tick.
    await requestSelfBackup(deps.db)
    text = `Panel backup to “${dest.name}” requested: the runner starts it within a minute.`
  }
  if (made.created) {
    const ctx = { ...pageCtx(c), flash: { kind: 'ok' as const, text } }
    return c.html(
      <AdminPanelBackupPage
        ctx={ctx}
        view={await view(c, { revealed: made.password })}
        errors={{}}
      />,
    )
  }
  return redirectTo(c, '/admin/panel-backup', { kind: 'ok', text })
})
