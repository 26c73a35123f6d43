import { StorageError } from '../../drivers/types.ts'

/** One sentence a tenant can act on, for any error the engine meets. */
export function plainReason(err: unknown): string {
  if (err instanceof StorageError) {
    if (err.code === 'AuthFailed') return `The destination refused our credentials: ${err.message}`
    return err.message
  }
  if (err instanceof Error) return err.message.split('\n')[0]!
  return String(err)
}
