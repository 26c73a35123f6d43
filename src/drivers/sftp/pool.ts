import { StorageError } from '../types.ts'
import { connect, type Session, type Target } from './connect.ts'
import { isOpen } from './ops.ts'

/** An idle connection is closed after this long, so a forgotten driver holds no socket. */
const IDLE_MS = 15_000

/**
 * One shared SSH connection for a driver: opened by the first call, reused by concurrent
 * ones, dropped when it or its SFTP channel ends (the next call reconnects), closed after
 * IDLE_MS with no call in flight, or by `close()`. Refuses to connect without a pinned key.
 */
export function connectionPool(o: Target & { hostKey: string }) {
  let current: Promise<Session> | null = null
  let active = 0
  let idle: NodeJS.Timeout | undefined

  async function session(): Promise<Session> {
    const s = await open()
    if (isOpen(s.sftp)) return s
    // Ended a moment ago, before its 'close' arrived: start over on a new connection.
    if (current && (await current.catch(() => null)) === s) current = null
    s.client.end()
    return open()
  }

  function open(): Promise<Session> {
    if (!o.hostKey) {
      return Promise.reject(
        new StorageError('BadConfig', "test the connection first to pin the server's host key"),
      )
    }
    if (!current) {
      const opening = connect(o, o.hostKey).then((s) => {
        const drop = () => {
          if (current === opening) current = null
          s.client.end()
        }
        s.client.once('close', drop)
        s.sftp.once('close', drop)
        s.sftp.once('end', drop)
        return s
      })
      opening.catch(() => {
        if (current === opening) current = null
      })
      current = opening
    }
    return current
  }

  /** Marks a call in flight; the returned function ends it (idempotent). */
  function hold(): () => void {
    active++
    clearTimeout(idle)
    let done = false
    return () => {
      if (done) return
      done = true
      if (--active > 0) return
      idle = setTimeout(() => void shut(), IDLE_MS)
      idle.unref()
    }
  }

  async function shut() {
    const s = current
    current = null
    if (!s) return
    const open = await s.catch(() => undefined)
    open?.client.end()
  }

  async function close() {
    clearTimeout(idle)
    await shut()
  }

  return { session, hold, close }
}
