import type { EngineDeps } from '../engine/context.ts'
import { runBackupJob } from '../engine/backup.ts'
import { runRestoreJob } from '../engine/restore.ts'
import { runVerifyJob } from '../engine/verify.ts'
import type { Handlers } from './runner.ts'

/** The engine behind each job kind. */
export function jobHandlers(deps: EngineDeps): Required<Handlers> {
  return {
    backup: async (job, { signal }) => void (await runBackupJob(deps, job, signal)),
    restore: async (job, { signal }) => void (await runRestoreJob(deps, job, signal)),
    verify: (job, { signal }) => runVerifyJob(deps, job, signal),
  }
}
