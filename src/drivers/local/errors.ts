import { StorageError } from '../types.ts'

/**
 * Maps a filesystem error to the closed StorageError set. Messages are plain and never carry
 * paths: they reach tenants, and the admin's storage layout is not theirs to see (the original
 * error stays in `cause` for logs). A StorageError passes through unchanged.
 */
export function classify(err: unknown): StorageError {
  if (err instanceof StorageError) return err
  if (err instanceof Error && err.name === 'AbortError') {
    return new StorageError('Transient', 'the operation was cancelled', { cause: err })
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new StorageError('NotFound', 'the object does not exist', { cause: err })
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StorageError('BadConfig', 'the backup folder is not writable', { cause: err })
    case 'ELOOP':
      return new StorageError('BadConfig', 'refusing to follow a symlink in the backup folder', {
        cause: err,
      })
    case 'EISDIR':
      return new StorageError('BadConfig', 'a folder is in the way of that object', { cause: err })
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError('NoSpace', 'the backup disk is full', { cause: err })
    default:
      return new StorageError(
        'Transient',
        `the backup folder failed (${code ?? 'unknown error'})`,
        {
          cause: err,
        },
      )
  }
}
