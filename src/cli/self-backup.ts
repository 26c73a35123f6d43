import { readFileSync } from 'node:fs'
import type { Command } from './command.ts'
import { UsageError, readStdin } from './io.ts'
import { auditCli } from './audit.ts'
import { openDb } from '../db/client.ts'
import { selfBackupPassword } from '../db/self-backup.ts'
import { runSelfBackup, type SelfBackupDone } from '../engine/panel/self-backup.ts'
import { restoreSelfBackup, type SelfRestoreDone } from '../engine/panel/self-restore.ts'
import { plainReason } from '../engine/restic/failure.ts'
import { formatBytes, formatDuration } from '../units.ts'

const WRITE_IT_DOWN =
  'Write this down: without it the panel backup cannot be restored. It is shown only now; ' +
  '`npx panel self-backup --show-password` prints it again on this server.'

/** An AbortSignal that fires on Ctrl-C or SIGTERM, so temporary copies are removed on the way out. */
function interruptible(): { signal: AbortSignal; done(): void } {
  const controller = new AbortController()
  const stop = () => controller.abort(new Error('interrupted'))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return {
    signal: controller.signal,
    done: () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    },
  }
}

function printBackup(done: SelfBackupDone): void {
  const size = formatBytes(done.bytes ?? 0)
  const short = done.snapshot?.slice(0, 8) ?? 'unknown'
  console.log(
    `Panel backup saved to “${done.destination}”: snapshot ${short}, ${size} ` +
      `(${formatBytes(done.added ?? 0)} new), in ${formatDuration(done.durationMs)}.`,
  )
  if (done.secretKey === 'environment') {
    console.log(
      'The master key comes from PANEL_SECRET_KEY, so it is not in this backup: keep that ' +
        'variable. A restored panel needs the same value to read stored destination secrets.',
    )
  }
  if (done.retentionError)
    console.log(`Older panel backups were not thinned out this time: ${done.retentionError}`)
  if (done.password) {
    console.log(`\nThe panel backup password:\n\n    ${done.password}\n\n${WRITE_IT_DOWN}`)
  }
}

function printRestore(done: SelfRestoreDone, localRoot: string): void {
  const when = new Date(done.time).toLocaleString('en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
  })
  console.log(
    `Restored the panel backup of ${when} (snapshot ${done.snapshot.slice(0, 8)}) from “${done.destination}”:`,
  )
  const was = (path: string | null) => (path ? `; the one that was here is now ${path}` : '')
  console.log(`  panel.db    restored${was(done.previousDb)}`)
  if (done.restoredKey) {
    console.log(`  secret.key  restored${was(done.previousKey)}`)
    if (process.env.PANEL_SECRET_KEY) {
      console.log(
        'PANEL_SECRET_KEY is set, and the panel uses it instead of secret.key: unset it, or set ' +
          'it to the restored key, before starting the panel.',
      )
    }
  } else {
    console.log(
      '  secret.key  not in the backup: the panel used PANEL_SECRET_KEY. Start it with the same ' +
        'PANEL_SECRET_KEY, or it cannot read the stored destination secrets.',
    )
  }
  const s = done.settings
  if (s?.panel?.version) {
    console.log(`Made by panel ${s.panel.version} on ${s.hostname ?? 'an unknown host'}.`)
  }
  const restoredRoot = s?.adminSettings?.localRoot ?? s?.layout?.localRoot
  const rootNow = s?.adminSettings?.localRoot ?? localRoot
  if (restoredRoot && restoredRoot !== rootNow) {
    console.log(
      `Tenants’ Local backups were under ${restoredRoot}: bring that folder back, or set ` +
        'PANEL_LOCAL_ROOT to where it is now.',
    )
  }
  console.log('Next step: start the panel (npm start, or start its service).')
}

async function passwordFrom(opts: Record<string, any>): Promise<string> {
  const password = opts['password-file']
    ? readFileSync(String(opts['password-file']), 'utf8').replace(/\r?\n$/, '')
    : await readStdin()
  if (!password) throw new UsageError('give the password on stdin or with --password-file F')
  return password
}

export const selfBackupCommands: Record<string, Command> = {
  'self-backup': {
    usage: 'self-backup [--destination NAME] [--show-password] [--json]',
    options: {
      destination: { type: 'string' },
      'show-password': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    async run(deps, _args, opts) {
      if (opts['show-password']) {
        const password = await selfBackupPassword(deps.db, deps.secretKey)
        if (!password) {
          throw new UsageError(
            'there is no panel backup password yet: it is made by the first panel backup',
          )
        }
        await auditCli(deps.db, 'panel.self-backup.password', { target: 'shown' })
        console.log(opts.json ? JSON.stringify({ password }) : password)
        return
      }
      const stop = interruptible()
      let done: SelfBackupDone
      try {
        done = await runSelfBackup(deps, {
          destination: opts.destination,
          trigger: 'cli',
          signal: stop.signal,
        })
      } catch (err) {
        if (stop.signal.aborted)
          throw new Error('The panel backup was interrupted; nothing was kept.')
        await auditCli(deps.db, 'panel.self-backup', {
          target: opts.destination ?? null,
          details: { ok: false, error: plainReason(err) },
        })
        throw err
      } finally {
        stop.done()
      }
      await auditCli(deps.db, 'panel.self-backup', {
        target: done.destination,
        details: { ok: true, snapshot: done.snapshot ?? null, passwordMade: !!done.password },
      })
      if (opts.json) {
        const { ok: _, at, ...rest } = done
        console.log(JSON.stringify({ ...rest, at: new Date(at).toISOString() }))
      } else printBackup(done)
    },
  },
  'self-restore': {
    usage: 'self-restore --destination NAME [--password-file F]   (password on stdin otherwise)',
    options: { destination: { type: 'string' }, 'password-file': { type: 'string' } },
    async run(deps, _args, opts) {
      if (!opts.destination) throw new UsageError('--destination NAME is required')
      const password = await passwordFrom(opts)
      const stop = interruptible()
      let done: SelfRestoreDone
      try {
        done = await restoreSelfBackup(deps, {
          destination: opts.destination,
          password,
          signal: stop.signal,
          beforeInstall: () => deps.db.$client.close(),
        })
      } finally {
        stop.done()
      }
      // The audit entry goes into the restored database, which now is the panel's.
      const restored = openDb(deps.config.dbPath)
      await auditCli(restored, 'panel.self-restore', {
        target: done.destination,
        details: { snapshot: done.snapshot, time: done.time, key: done.restoredKey },
      })
      restored.$client.close()
      printRestore(done, deps.config.localRoot)
    },
  },
}
