import type { EngineDeps } from '../engine/deps.ts'
import { claimSelfBackup, getSelfBackupSettings, selfBackupRequested } from '../db/self-backup.ts'
import { dueDailySlot } from '../engine/panel/daily.ts'
import { runSelfBackup } from '../engine/panel/self-backup.ts'
import { isPostgres } from '../db/dialect.ts'
import { adminEmails, insertNotifications } from '../db/notifications.ts'
import { panelOrigin } from '../db/panel-url.ts'

/** An e-mail to every admin with an address: the panel's own backup failed, and why. */
async function tellAdmins(deps: EngineDeps, reason: string): Promise<void> {
  const link = `${await panelOrigin(deps.db, deps.config)}/admin/panel-backup`
  await insertNotifications(
    deps.db,
    (await adminEmails(deps.db)).map((recipient) => ({
      tenantId: null,
      channel: 'email' as const,
      recipient,
      event: 'panel.self-backup.failed',
      subject: 'The panel backup failed',
      body:
        `The daily backup of the panel itself (its database and secret key) failed:\n\n` +
        `${reason}\n\nUntil one succeeds, losing this server's data folder would leave every ` +
        `tenant with only their recovery kits. See ${link}`,
    })),
  )
}

/**
 * The daily panel backup, driven by the scheduler's tick. Not a tenant job: the day's slot is
 * claimed in the database (claimSelfBackup), so of several runner processes exactly one runs
 * it, once per day, even when a run fails (its reason shows under Admin > Panel backup). A Back
 * up now requested from a web process without a runner is claimed (and run) the same way.
 */
export function dailySelfBackup(deps: EngineDeps, onError: (err: unknown) => void) {
  let running: { controller: AbortController; done: Promise<void> } | null = null
  return {
    /**
     * Starts the day's backup when its time has come and nobody took it yet, else a waiting
     * Back up now; true if it started one.
     */
    async tick(now = new Date()): Promise<boolean> {
      // PostgreSQL: the database is backed up by its own tools (Admin > Panel backup says so).
      if (running || isPostgres(deps.db)) return false
      const slot = dueDailySlot(await getSelfBackupSettings(deps.db), now)
      const at = now.getTime()
      let trigger: 'schedule' | 'web' = 'schedule'
      if (!slot || !(await claimSelfBackup(deps.db, { slot, now: at })).ok) {
        // Back up now from a web process without a runner of its own.
        if (!(await selfBackupRequested(deps.db))) return false
        if (!(await claimSelfBackup(deps.db, { requested: true, now: at })).ok) return false
        trigger = 'web'
      }
      const controller = new AbortController()
      const done = runSelfBackup(deps, {
        trigger,
        claimed: true,
        signal: controller.signal,
      }).then(
        () => {},
        // The failure is recorded for the page; the log line is for whoever reads the journal,
        // and every admin with an address is told, since nobody may look at the page for days.
        async (err) => {
          const reason = (err as Error).message
          onError(new Error(`panel backup failed: ${reason}`))
          if (!controller.signal.aborted) await tellAdmins(deps, reason)
        },
      )
      running = { controller, done: done.finally(() => (running = null)) }
      return true
    },
    /** Resolves when the backup this process runs (if any) has ended. */
    settled: (): Promise<void> => running?.done ?? Promise.resolve(),
    /** Stops a running backup (restic removes its lock; the staged copies are removed). */
    async stop(): Promise<void> {
      running?.controller.abort()
      await running?.done
    },
  }
}
