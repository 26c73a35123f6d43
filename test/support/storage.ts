import { expect } from 'vitest'
import { existsSync, readdirSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { StorageError } from '../../src/drivers/types.ts'

/** The StorageError `p` rejects with; fails the test if it resolves or rejects otherwise. */
export async function errorOf(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => expect.fail('expected a StorageError, but the call succeeded'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StorageError)
  return err as StorageError
}

/** A TCP server on loopback that counts connections and answers each with `reply` (or drops it). */
export async function countingServer(
  reply?: string,
): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let n = 0
  const server = createServer((socket) => {
    n++
    socket.on('error', () => {})
    socket.once('data', () => (reply ? socket.end(reply) : socket.destroy()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => n,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A port on loopback where nothing listens. */
export async function closedPort(): Promise<number> {
  const s = await countingServer()
  await s.close()
  return s.port
}

/** Waits until `cond` (awaited) holds, polling every 10 ms; throws after `ms`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 30_000,
  what = 'a condition',
): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Every file below `dir` (relative paths), for looking at what a server really stored. */
export function filesUnder(dir: string, rel = ''): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), `${rel}${e.name}/`) : [`${rel}${e.name}`],
  )
}
