import { posix } from 'node:path'
import type { FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2'
import { StorageError } from '../types.ts'

/** ssh2's SFTP calls as promises (the raw errors; the driver classifies them). */
type Callback<T> = (err: Error | undefined | null, value: T) => void

/**
 * ssh2 silently drops a request on a closed channel (its callback never runs), and answers
 * only the requests pending at the moment it closes: so refuse up front, and fail on 'close'.
 */
function call<T>(sftp: SFTPWrapper, fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    if (!isOpen(sftp)) return reject(new Error('Not connected'))
    const gone = () => reject(new Error('No response from server'))
    sftp.once('close', gone)
    const done: Callback<T> = (err, value) => {
      sftp.off('close', gone)
      if (err) reject(err)
      else resolve(value)
    }
    try {
      fn(done)
    } catch (err) {
      done(err as Error, undefined as T) // ssh2 throws synchronously for some closed states
    }
  })
}

/** The SFTP channel can still carry requests (and get answers). */
export function isOpen(sftp: SFTPWrapper): boolean {
  // A channel torn down with its connection keeps outgoing 'open'; incoming tells ('eof' once
  // the server's sftp process is gone, 'closed' once the connection is).
  const c = sftp as unknown as { outgoing?: { state?: string }; incoming?: { state?: string } }
  return c.outgoing?.state === 'open' && c.incoming?.state === 'open'
}

/** SSH_FX_NO_SUCH_FILE. */
export const isMissing = (err: unknown) => (err as { code?: unknown })?.code === 2

export const open = (sftp: SFTPWrapper, path: string, flags: string, mode = 0o600) =>
  call<Buffer>(sftp, (cb) => sftp.open(path, flags as 'r', { mode }, cb))
export const close = (sftp: SFTPWrapper, handle: Buffer) =>
  call<void>(sftp, (cb) => sftp.close(handle, cb))
export const fstat = (sftp: SFTPWrapper, handle: Buffer) =>
  call<Stats>(sftp, (cb) => sftp.fstat(handle, cb))
export const lstat = (sftp: SFTPWrapper, path: string) =>
  call<Stats>(sftp, (cb) => sftp.lstat(path, cb))
export const stat = (sftp: SFTPWrapper, path: string) =>
  call<Stats>(sftp, (cb) => sftp.stat(path, cb))
export const unlink = (sftp: SFTPWrapper, path: string) =>
  call<void>(sftp, (cb) => sftp.unlink(path, cb))
export const rename = (sftp: SFTPWrapper, from: string, to: string) =>
  call<void>(sftp, (cb) => sftp.rename(from, to, cb))
export const posixRename = (sftp: SFTPWrapper, from: string, to: string) =>
  call<void>(sftp, (cb) => sftp.ext_openssh_rename(from, to, cb))
export const write = (sftp: SFTPWrapper, handle: Buffer, data: Buffer, position: number) =>
  call<void>(sftp, (cb) => sftp.write(handle, data, 0, data.length, position, cb))
export const fsync = (sftp: SFTPWrapper, handle: Buffer) =>
  call<void>(sftp, (cb) => sftp.ext_openssh_fsync(handle, cb))
export const readdir = (sftp: SFTPWrapper, path: string) =>
  call<FileEntryWithStats[]>(sftp, (cb) => sftp.readdir(path, cb))
const mkdir = (sftp: SFTPWrapper, path: string) =>
  call<void>(sftp, (cb) => sftp.mkdir(path, { mode: 0o700 }, cb))

/**
 * Creates `dir` and its missing parents (0700). Concurrent callers may race: a folder that
 * exists by the time mkdir fails is fine.
 */
export async function mkdirp(sftp: SFTPWrapper, dir: string): Promise<void> {
  const found = await stat(sftp, dir).then(
    (s) => (s.isDirectory() ? 'folder' : 'other'),
    (err) => (isMissing(err) ? 'missing' : Promise.reject(err)),
  )
  if (found === 'folder') return
  if (found === 'other') throw new StorageError('BadConfig', `${dir} is a file, not a folder`)
  const parent = posix.dirname(dir)
  if (parent !== dir && parent !== '.') await mkdirp(sftp, parent)
  await mkdir(sftp, dir).catch(async (err) => {
    if (
      !(await stat(sftp, dir).then(
        (s) => s.isDirectory(),
        () => false,
      ))
    )
      throw err
  })
}

/** Opens a new file for writing (O_EXCL, 0600), creating its folder when missing. */
export async function openForWrite(sftp: SFTPWrapper, path: string, dir: string): Promise<Buffer> {
  try {
    return await open(sftp, path, 'wx')
  } catch (err) {
    if (!isMissing(err)) throw err
  }
  await mkdirp(sftp, dir)
  return open(sftp, path, 'wx')
}
