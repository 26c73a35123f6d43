import type { JobRow, Run } from './schema.ts'
import type { VerifyMode } from './verifications.ts'

/** Who started a job: the schedule, a person on a page, the CLI or the API. */
export type Trigger = Run['trigger']

/**
 * A backup of one policy; `slot` is the schedule slot a scheduled one was queued for;
 * `policyName` the policy's name then, shown while it runs even if the policy is deleted.
 */
export type BackupPayload = {
  policyId: number
  policyName?: string
  trigger?: Trigger
  slot?: string
}

/** What to restore. Paths are absolute paths inside the snapshot, under the tenant's home. */
export type RestorePayload = {
  destinationId: number
  snapshot: string
  /** Empty: the whole home. A name shown with U+FFFD (not UTF-8) is restored by pattern. */
  paths: string[]
  /** Restore this database's dump instead of files. */
  databaseId?: number
  /** 'inplace' (after a safety snapshot) or 'copy' (a new folder / a database under a new name). */
  mode: 'inplace' | 'copy'
  /** For 'copy': a new folder relative to the home, or the new database name. */
  newName?: string
  trigger?: Exclude<Trigger, 'schedule'>
}

/** What a verify job does: `check` (default) re-reads data; `restore` is a test restore. */
export type VerifyPayload = {
  mode?: VerifyMode
  policyId?: number
  /** The policy's name when queued (see BackupPayload). */
  policyName?: string
  destinationId?: number
  subset?: string
  trigger?: Trigger
}

/** A new password for the tenant's repository on one destination (the old key is removed). */
export type RekeyPayload = { destinationId: number; trigger?: Exclude<Trigger, 'schedule'> }

/** A look at the destination's snapshots (`restic snapshots`) to bring the catalog in line. */
export type SyncSnapshotsPayload = { destinationId: number; trigger?: Trigger }

/** The file index of one snapshot (`restic ls`), so browsing and search come from SQLite. */
export type IndexSnapshotPayload = { destinationId: number; snapshot: string; trigger?: Trigger }

/** The payload of each job kind: `enqueue` takes exactly this and each handler gets it. */
export type JobPayloads = { [K in JobRow['kind']]: PayloadOf[K] }
type PayloadOf = {
  backup: BackupPayload
  restore: RestorePayload
  verify: VerifyPayload
  rekey: RekeyPayload
  'sync-snapshots': SyncSnapshotsPayload
  'index-snapshot': IndexSnapshotPayload
}

export type JobKind = keyof JobPayloads

/** A job row whose payload is typed by its kind: narrow on `kind` to read it. */
export type Job<K extends JobKind = JobKind> = {
  [P in K]: Omit<JobRow, 'kind' | 'payload'> & { kind: P; payload: JobPayloads[P] }
}[K]

/** The row as its kind's type: `enqueue` only ever stores a payload of the row's own kind. */
export const typedJob = <K extends JobKind = JobKind>(row: JobRow): Job<K> => row as Job<K>

/**
 * The dedupe key of a policy's backup, data check or test restore: at most one of each is
 * queued or running, whoever asked for it (schedule, page, CLI, API).
 */
export function policyJobKey(policyId: number, what: 'backup' | VerifyMode): string {
  return what === 'backup' ? `backup:policy:${policyId}` : `verify:${what}:policy:${policyId}`
}

/** The policy a job works on, or null (a restore, a rekey, a catalog job, a check of all). */
export function policyIdOf(job: Job): number | null {
  return job.kind === 'backup' || job.kind === 'verify' ? (job.payload.policyId ?? null) : null
}

/** The dedupe key of a repository's password change: at most one queued or running. */
export function rekeyJobKey(destinationId: number): string {
  return `rekey:destination:${destinationId}`
}
