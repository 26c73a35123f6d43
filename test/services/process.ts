import type { ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { lookupUser } from '../../src/engine/host/isolation.ts'

/** Shared by the throwaway test servers: finding binaries, ports, readiness and stopping. */

/** The first executable `name` in `extraDirs`, then PATH, then /usr/sbin and /sbin. */
export function which(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

/** uid/gid of an existing system user a server runs as. */
export function systemUser(name: string): { uid: number; gid: number } {
  const user = lookupUser(name)
  if (!user) throw new Error(`There is no "${name}" system user to run the server as.`)
  return user
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Polls `probe` until it resolves (true), or the server exits or 30 s pass (false, killed). */
export async function waitReady(
  server: ChildProcess,
  probe: () => Promise<unknown>,
): Promise<boolean> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && server.exitCode === null && server.signalCode === null) {
    try {
      await probe()
      return true
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  if (server.exitCode === null) server.kill('SIGKILL')
  return false
}

/** Sends `signal` and waits for the exit, escalating to SIGKILL after 10 s. */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}
