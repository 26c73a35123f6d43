import { Hono } from 'hono'
import os from 'node:os'
import type { Db } from '../db/client.ts'
import { getRunnerSetting, setRunnerSetting, uploadLimitKiB } from '../db/jobs.ts'
import { policyIdOf } from '../db/job-payloads.ts'
import { listHeartbeats } from '../db/runner-heartbeats.ts'
import { tenantNodes } from '../db/tenants.ts'
import {
  cancelQueuedJob,
  queueCounts,
  queuedInClaimOrder,
  runningJobs,
} from '../db/runner-queue.ts'
import {
  AdminRunnerPage,
  RunnerLiveSection,
  type RunnerFormValues,
  type RunnerLive,
} from '../../views/admin-runner.tsx'
import { auditWeb } from './audit-trail.ts'
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

/** Admin > Runner, mounted under /admin (behind its admin guard) at /admin/runner. */
export const adminRunnerRoutes = new Hono<AppEnv>()

const MAX_CONCURRENCY = 64
const MAX_UPLOAD_MIB = 10_000

async function live(db: Db): Promise<RunnerLive> {
  const now = new Date()
  return {
    paused: (await getRunnerSetting(db, 'paused')) === '1',
    running: await runningJobs(db),
    queue: await queuedInClaimOrder(db, now),
    counts: await queueCounts(db, now),
  }
}

/** KiB/s as the MiB/s the admin typed: 10240 → "10", 512 → "0.5". */
function mib(kib: number | null): string {
  return kib === null ? '' : String(Number((kib / 1024).toFixed(3)))
}

async function currentValues(db: Db): Promise<RunnerFormValues> {
  return {
    concurrency: (await getRunnerSetting(db, 'concurrency')) ?? '',
    uploadLimit: mib(await uploadLimitKiB(db)),
  }
}

function defaultConcurrency(c: Ctx): string {
  const set = c.get('deps').config.concurrency
  return set
    ? `PANEL_CONCURRENCY (${set})`
    : `the number of CPU cores (${os.availableParallelism()} here)`
}

async function page(
  c: Ctx,
  values: RunnerFormValues,
  errors: Record<string, string>,
  status: 200 | 422 = 200,
) {
  const { db } = c.get('deps')
  const view = (
    <AdminRunnerPage
      ctx={pageCtx(c)}
      live={await live(db)}
      runners={await listHeartbeats(db)}
      nodes={await tenantNodes(db)}
      values={values}
      errors={errors}
      defaultConcurrency={defaultConcurrency(c)}
    />
  )
  return c.html(view, status)
}

adminRunnerRoutes.get('/', async (c) => page(c, await currentValues(c.get('deps').db), {}))

adminRunnerRoutes.get('/live', async (c) => {
  if (!isHtmx(c)) return c.redirect('/admin/runner')
  return c.html(<RunnerLiveSection csrf={c.get('csrf')} live={await live(c.get('deps').db)} />)
})

for (const action of ['pause', 'resume'] as const) {
  adminRunnerRoutes.post(`/${action}`, async (c) => {
    const { db } = c.get('deps')
    await setRunnerSetting(db, 'paused', action === 'pause' ? '1' : '0')
    await auditWeb(c, `runner.${action}`, { tenantId: null })
    const text =
      action === 'pause'
        ? 'Runner paused: no new job starts; running jobs finish.'
        : 'Runner resumed.'
    return redirectTo(c, '/admin/runner', { kind: 'ok', text })
  })
}

/** Validates the settings form; blank concurrency means each process's default, blank limit none. */
function parseSettings(values: RunnerFormValues) {
  const errors: Record<string, string> = {}
  let concurrency = ''
  if (values.concurrency) {
    const n = Number(values.concurrency)
    if (!/^\d+$/.test(values.concurrency) || n < 1 || n > MAX_CONCURRENCY) {
      errors.concurrency = `Use a whole number from 1 to ${MAX_CONCURRENCY}, or leave it blank for the default.`
    } else concurrency = String(n)
  }
  let uploadKiB = 0
  if (values.uploadLimit) {
    const n = Number(values.uploadLimit)
    uploadKiB = Math.round(n * 1024)
    if (!/^\d+(\.\d+)?$/.test(values.uploadLimit) || uploadKiB < 1 || n > MAX_UPLOAD_MIB) {
      errors.uploadLimit = `Use MiB per second like 10 or 0.5 (at most ${MAX_UPLOAD_MIB}), or leave it blank for no limit.`
    }
  }
  return { errors, concurrency, uploadKiB }
}

adminRunnerRoutes.post('/settings', async (c) => {
  const { db } = c.get('deps')
  const form = await readForm(c)
  const values = {
    concurrency: str(form, 'concurrency').trim(),
    uploadLimit: str(form, 'uploadLimit').trim(),
  }
  const { errors, concurrency, uploadKiB } = parseSettings(values)
  if (Object.keys(errors).length) return page(c, values, errors, 422)
  const before = {
    concurrency: (await getRunnerSetting(db, 'concurrency')) ?? '',
    uploadKiB: (await uploadLimitKiB(db)) ?? 0,
  }
  if (before.concurrency !== concurrency) {
    await setRunnerSetting(db, 'concurrency', concurrency)
    await auditWeb(c, 'runner.concurrency', {
      tenantId: null,
      details: { from: before.concurrency || 'default', to: concurrency || 'default' },
    })
  }
  if (before.uploadKiB !== uploadKiB) {
    await setRunnerSetting(db, 'uploadLimit', String(uploadKiB))
    const kib = (n: number) => (n ? `${n} KiB/s` : 'none')
    await auditWeb(c, 'runner.upload-limit', {
      tenantId: null,
      details: { from: kib(before.uploadKiB), to: kib(uploadKiB) },
    })
  }
  return redirectTo(c, '/admin/runner', { kind: 'ok', text: 'Runner settings saved.' })
})

adminRunnerRoutes.post('/jobs/:id/cancel', async (c) => {
  const { db } = c.get('deps')
  const id = idParam(c)
  if (!(await confirmed(c))) {
    // The queue as the page shows it names the job; one further down is named by its number.
    const queued = (await queuedInClaimOrder(db, new Date(), 1000)).find((j) => j.id === id)
    const what = queued
      ? `the queued ${queued.kind}${queued.policyName ? ` “${queued.policyName}”` : ''} of ${queued.tenantName}`
      : `queued job ${id}`
    return askToConfirm(c, {
      title: `Cancel ${what}?`,
      points: [
        'It is taken out of the queue and does not run. Nothing already backed up is touched.',
        'A scheduled backup runs again at its next scheduled time; a job someone started by hand has to be started again.',
      ],
      button: 'Yes, cancel the job',
      cancel: '/admin/runner',
      active: 'runner',
    })
  }
  const job = await cancelQueuedJob(db, id)
  if (!job) {
    const text = 'That job is no longer queued (it started or finished), so it was not cancelled.'
    return redirectTo(c, '/admin/runner', { kind: 'error', text })
  }
  await auditWeb(c, 'job.cancel', {
    tenantId: job.tenantId,
    target: `${job.kind} job ${job.id}`,
    details: {
      tenant: job.tenantName,
      policyId: policyIdOf(job),
      trigger: job.payload.trigger ?? null,
      attempts: job.attempts,
    },
  })
  return redirectTo(c, '/admin/runner', {
    kind: 'ok',
    text: `Cancelled the queued ${job.kind} of ${job.tenantName}.`,
  })
})
