/**
 * Domain errors (one `app.onError` and the CLI map them to pages, status codes and exits), and
 * the one rule for job failures (JobFailed, isPermanent).
 */
export class NotFoundError extends Error {
  readonly code = 'NotFound'
  constructor(what = 'That page') {
    super(`${what} does not exist or is not yours.`)
  }
}

/** Bad input, keyed by field name so each message shows beside its field. */
export class InputError extends Error {
  readonly code = 'BadInput'
  constructor(readonly errors: Record<string, string>) {
    super(Object.values(errors)[0] ?? 'Check the highlighted fields.')
  }
}

/** A request that is well-formed but cannot be done in the current state. */
export class ConflictError extends Error {
  readonly code = 'Conflict'
}

/**
 * A tenant tried to change something its host provides (a provider destination or policy):
 * tenants restore from, download and back up with those, but only the admin changes them.
 */
export class HostOwnedError extends ConflictError {
  constructor(what: string) {
    super(
      `${what} is provided by your host: you can restore from it and back up now, but only your host can change it.`,
    )
  }
}

/** A limit the admin set has been reached (on-demand runs per day, quotas); says which and until when. */
export class LimitError extends ConflictError {}

/** A job attempt that failed, in words a tenant can act on; `permanent`: no retry. */
export class JobFailed extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message)
  }
}

/**
 * Why a job's signal aborted when its tenant cancelled it: the run ends 'cancelled' in plain
 * words, and the job is never retried (permanent).
 */
export class JobCancelled extends Error {
  readonly permanent = true
  constructor() {
    super('Cancelled by you.')
  }
}

/** True when `signal` aborted because the tenant cancelled the job. */
export function cancelledBy(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && signal.reason instanceof JobCancelled
}

/**
 * Whether retrying cannot fix `err`, the one rule for every job: each error that knows says so
 * in its `permanent` (JobFailed, StorageError by its code, ResticError by what restic said, a
 * missing system user); a missing or foreign object (NotFoundError) stays missing. Anything
 * else (a timeout, a crash) is worth another attempt.
 */
export function isPermanent(err: unknown): boolean {
  if (err instanceof NotFoundError) return true
  return (err as { permanent?: unknown } | null | undefined)?.permanent === true
}
