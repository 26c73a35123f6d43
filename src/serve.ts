import { serve } from '@hono/node-server'
import { loadConfig, type Config } from './config.ts'
import { openDatabase, type Db } from './db/client.ts'
import { drivers } from './drivers/registry.ts'
import { syncProvider } from './domain/provider-sync.ts'
import { ensureAdmin, panelUrl, seedDemo } from './setup.ts'
import { pruneThrottle } from './auth/throttle.ts'
import { createApp } from './web/app.tsx'
import { resticProblem, resticVersion } from './engine/restic/restic.ts'
import { releaseHeldSlots } from './engine/restic/download.ts'
import { startRunner } from './runner/runner.ts'
import { startScheduler } from './runner/scheduler.ts'
import { jobHandlers } from './runner/handlers.ts'
import { startSender } from './notify/sender.ts'
import { listeningUrl, storePanelUrl } from './db/panel-url.ts'
import { raiseGaveUp } from './notify/run-result.ts'

/** The shared runner, scheduler and notice sender; `wake` makes the runner poll now. */
function startWorkers(db: Db, config: Config) {
  const runner = startRunner({
    db,
    handlers: jobHandlers({ db, config, drivers }),
    concurrency: config.concurrency,
    node: config.node,
    leaseMs: config.leaseMs,
    onGaveUp: (job) => raiseGaveUp({ db, config }, job),
  })
  const scheduler = startScheduler(db, {
    onEnqueue: () => runner.wake(),
    notices: { db, config },
    housekeeping: { auditDays: config.auditDays },
    selfBackup: { db, config, drivers },
  })
  const sender = startSender({ db, config })
  if (!config.smtp)
    console.error('E-mail notices are off: set SMTP_HOST (and SMTP_PORT, SMTP_FROM…) to send them.')
  const stop = async () => {
    await Promise.all([scheduler.stop(), runner.stop(), sender.stop()])
  }
  return { wake: () => runner.wake(), runnerId: runner.owner, stop }
}

/**
 * Last resort: an error nothing handled (a bug) is logged and the panel keeps serving every other
 * tenant instead of dying. Not under vitest, where such an error must fail the test that caused it.
 */
function keepServing(): void {
  if (process.env.VITEST) return
  process.on('uncaughtException', (err) => {
    console.error(`[panel] uncaught exception, still serving: ${err.stack ?? err.message}`)
  })
  process.on('unhandledRejection', (reason) => {
    console.error(
      `[panel] unhandled rejection, still serving: ${(reason as Error)?.stack ?? String(reason)}`,
    )
  })
}

function onSignals(stop: () => Promise<void>) {
  const handler = () => void stop().finally(() => process.exit(0))
  process.once('SIGINT', handler)
  process.once('SIGTERM', handler)
}

/** `panel serve`: migrate, first-start setup, then serve (with the runner unless disabled). */
export async function startServer(): Promise<void> {
  keepServing()
  const config = loadConfig()
  const db = await openDatabase(config)
  const linkPath = await ensureAdmin(db)
  if (config.demo) {
    for (const t of await seedDemo(db, config)) {
      console.log(`Demo tenant "${t.name}" created, password: ${t.password}`)
    }
  }
  await pruneThrottle(db)
  // Tenants added while the panel was down (or by an older version) get the host's policies.
  await syncProvider(db)
  // Asked alongside start-up, not before it: the banner shows once restic has answered.
  let problem: string | null = null
  void resticVersion().then((version) => {
    problem = resticProblem(version)
    if (problem && config.runner) console.error(`WARNING: ${problem}`)
  })
  const workers = config.runner ? startWorkers(db, config) : null
  const app = createApp({
    db,
    config,
    drivers,
    adminBanner: () => problem,
    wake: workers?.wake,
    runnerId: workers?.runnerId,
  })
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
    const url = panelUrl({ ...config, port: info.port })
    // Notices link here whoever runs the job: a CLI --wait run, `panel runner` on another host.
    storePanelUrl(db, listeningUrl(config, info.port)).catch((err) =>
      console.error('The panel URL for notices was not stored:', err),
    )
    if (linkPath) {
      console.log(
        `\nFirst start: sign in as "admin" once with this link (valid 24 hours):\n\n  ${url}${linkPath}\n`,
      )
    }
    console.log(`Panel listening on ${url}${workers ? ' (runner on)' : ' (runner off)'}`)
  })
  onSignals(async () => {
    server.close()
    await Promise.all([workers?.stop(), releaseHeldSlots()])
  })
}

/** `panel runner`: the runner and scheduler alone, no web server. */
export async function startRunnerOnly(opts: { node?: string } = {}): Promise<void> {
  keepServing()
  const config = loadConfig()
  if (opts.node !== undefined) config.node = opts.node
  const db = await openDatabase(config)
  await syncProvider(db)
  const problem = resticProblem(await resticVersion())
  if (problem) console.error(`WARNING: ${problem}`)
  const workers = startWorkers(db, config)
  const where = config.node ? `node ${config.node}` : 'this server'
  console.log(`Runner started for ${where} (data: ${config.dataDir}).`)
  onSignals(workers.stop)
}
