import { spawn, type ChildProcess } from 'node:child_process'
import {
  accessSync,
  constants,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob'
import { freePort } from './process.ts'

/** Azurite's well-known development account (public, documented, not a secret). */
export const DEV_ACCOUNT = 'devstoreaccount1'
export const DEV_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

const BINARY = resolve(import.meta.dirname, '../../node_modules/.bin/azurite-blob')

/** A throwaway Azurite blob service on loopback, one per test file (or per test that kills it). */
export type AzuriteServer = {
  host: '127.0.0.1'
  port: number
  account: string
  key: string
  /** `http://127.0.0.1:<port>/devstoreaccount1`: the Blob service URL (path-style account). */
  endpoint: string
  /** A client with the account key, straight to the server (no guard): for test setup and inspection. */
  service: BlobServiceClient
  createContainer(name: string): Promise<void>
  /**
   * Kills the server while keeping its data. Azurite keeps blob and extent metadata in two LokiJS
   * files saved every 5 s on separate timers, so a bare SIGKILL can leave blobs pointing at extents
   * the other file never recorded (an emulator artefact; Azure itself is durable). So this sends
   * SIGTERM, which persists both stores at once (Azurite stops accepting requests and closes them)
   * and then SIGKILLs it as soon as it says so, which cuts off the requests still in flight.
   */
  kill(): Promise<void>
  /** Starts it again on the same port over the same data. */
  restart(): Promise<void>
  /** Stops the server and removes its directory; safe to call twice. */
  stop(): Promise<void>
}

/**
 * True when Azurite is installed (a dev dependency). When it is not: throws if CI=true (a
 * missing service is a failure there), else warns loudly and returns false, for `describe.runIf()`.
 */
export function requireAzurite(): boolean {
  try {
    accessSync(BINARY, constants.X_OK)
    return true
  } catch {
    const why = 'Azure tests need Azurite (npm install: it is a dev dependency)'
    if (process.env.CI === 'true') throw new Error(`${why}; a missing service fails in CI.`)
    console.warn(`\n!!! SKIPPING Azure tests: ${why}.\n`)
    return false
  }
}

/** Starts Azurite's blob service on 127.0.0.1 and a random free port with a fresh data folder. */
export async function startAzurite(): Promise<AzuriteServer> {
  const dir = mkdtempSync(join(tmpdir(), 'panel-azurite-'))
  let child: ChildProcess | undefined
  let port = 0
  const logFile = join(dir, 'server.log')
  /** The server's output since byte `from` of its log (the log spans restarts). */
  const logSince = (from: number) => readFileSync(logFile).subarray(from).toString('utf8')
  const logSize = () => statSync(logFile, { throwIfNoEntry: false })?.size ?? 0
  const launch = async () => {
    const from = logSize()
    const log = openSync(logFile, 'a')
    child = spawn(
      BINARY,
      [
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--location',
        join(dir, 'data'),
      ].concat(['--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry']),
      { stdio: ['ignore', log, log] },
    )
    closeSync(log)
    return waitFor(child, () => logSince(from).includes('successfully listens'))
  }
  const exited = async (signal: NodeJS.Signals) => {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    c.kill(signal)
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000)
    await gone
    clearTimeout(timer)
  }
  const stop = async () => {
    await exited('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      if (await launch()) break
      if (attempt < 3) continue // most likely the port was taken meanwhile
      throw new Error(`Azurite did not start:\n${logSince(0)}`)
    }
  } catch (err) {
    await stop()
    throw err
  }
  const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`
  const service = new BlobServiceClient(
    endpoint,
    new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
  )
  return {
    host: '127.0.0.1',
    port,
    account: DEV_ACCOUNT,
    key: DEV_KEY,
    endpoint,
    service,
    async createContainer(name) {
      await service.getContainerClient(name).createIfNotExists()
    },
    async kill() {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      const from = logSize()
      c.kill('SIGTERM')
      const deadline = Date.now() + 5_000
      while (Date.now() < deadline && !logSince(from).includes('successfully closed')) {
        await new Promise((r) => setTimeout(r, 20))
      }
      await exited('SIGKILL')
    },
    async restart() {
      await exited('SIGKILL')
      if (!(await launch())) throw new Error(`Azurite did not restart:\n${logSince(0)}`)
    },
    stop,
  }
}

/** Polls `ready` until it holds (true), or the server exits or 30 s pass (false). */
async function waitFor(child: ChildProcess, ready: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    if (ready()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  return false
}
