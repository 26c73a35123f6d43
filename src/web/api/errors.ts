import type { Context } from 'hono'
import { ConflictError, InputError, NotFoundError } from '../../errors.ts'
import { plainReason } from '../../engine/restic/failure.ts'

/** Stable machine-readable codes of the JSON API; the message beside them is plain words. */
export type ApiErrorCode =
  | 'unauthorized'
  | 'not_found'
  | 'backup_token_missing'
  | 'backup_token_invalid'
  | 'backup_token_not_active'
  | 'invalid'
  | 'conflict'
  | 'limit_reached'
  | 'backup_unreadable'
  | 'internal'

/** An error the API answers as `{ "error": { "code", "message" } }` with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: 401 | 403 | 404 | 409 | 422 | 429 | 500 | 502,
    readonly code: ApiErrorCode,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message)
  }
}

/** Maps any error to the API's JSON error; unexpected ones are logged and said plainly. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof NotFoundError) return new ApiError(404, 'not_found', err.message)
  if (err instanceof InputError) return new ApiError(422, 'invalid', err.message, err.errors)
  if (err instanceof ConflictError) return new ApiError(409, 'conflict', err.message)
  console.error(`[api] ${(err as Error)?.stack ?? String(err)}`)
  return new ApiError(
    500,
    'internal',
    'The panel hit an unexpected error. It has been logged; try again.',
  )
}

export function errorResponse(c: Context, err: unknown): Response {
  const e = toApiError(err)
  if (e.status === 401) c.header('WWW-Authenticate', 'Bearer realm="panel"')
  c.header('Cache-Control', 'no-store')
  const body = {
    error: { code: e.code, message: e.message, ...(e.fields ? { fields: e.fields } : {}) },
  }
  return c.json(body, e.status)
}

/** For engine failures before any byte was sent (repository unreadable, destination down). */
export function unreadable(err: unknown): ApiError {
  if (err instanceof ApiError || err instanceof NotFoundError) return toApiError(err)
  return new ApiError(502, 'backup_unreadable', `Could not read the backup: ${plainReason(err)}`)
}
