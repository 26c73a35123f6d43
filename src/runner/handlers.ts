import type { EngineDeps } from '../engine/deps.ts'
import { runBackupJob } from '../engine/jobs/backup.ts'
import { runRestoreJob } from '../engine/jobs/restore.ts'
import { runVerifyJob } from '../engine/jobs/verify.ts'
import { runRekeyJob } from '../engine/jobs/rekey.ts'
import { runIndexSnapshotJob, runSyncSnapshotsJob } from '../engine/jobs/snapshot-catalog.ts'
import type { Handlers } from './runner.ts'

/** The engine behind each job kind. */
export function jobHandlers(deps: EngineDeps): Required<Handlers> {
  return {
    backup: async (job, { signal }) => void (await runBackupJob(deps, job, signal)),
    restore: async (job, { signal }) => void (await runRestoreJob(deps, job, signal)),
    verify: (job, { signal }) => runVerifyJob(deps, job, signal),
    rekey: (job, { signal }) => runRekeyJob(deps, job, signal),
    'sync-snapshots': (job, { signal }) => runSyncSnapshotsJob(deps, job, signal),
    'index-snapshot': (job, { signal }) => runIndexSnapshotJob(deps, job, signal),
  }
}
