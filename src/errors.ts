/** Domain errors; one `app.onError` and the CLI map them to pages, status codes and exits. */
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

/** A limit the admin set has been reached (on-demand runs per day, quotas); says which and until when. */
export class LimitError extends ConflictError {}
