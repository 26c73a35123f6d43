import { StorageError } from '../drivers/types.ts'
import { ResticError } from './restic.ts'
import { IsolationError } from './isolation.ts'
import { NotFoundError } from '../errors.ts'

/** A job attempt that failed; `permanent` tells the queue not to retry. */
export class JobFailed extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message)
  }
}

/** One sentence a tenant can act on, for any error the engine meets. */
export function plainReason(err: unknown): string {
  if (err instanceof StorageError) {
    if (err.code === 'AuthFailed') return `The destination refused our credentials: ${err.message}`
    return err.message
  }
  if (err instanceof Error) return err.message.split('\n')[0]!
  return String(err)
}

export function isPermanent(err: unknown): boolean {
  if (err instanceof StorageError) return err.permanent
  if (err instanceof ResticError || err instanceof IsolationError || err instanceof JobFailed) return err.permanent
  if (err instanceof NotFoundError) return true
  return false
}
