import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { PASSWORD, postgresDatabase } from '../helpers.ts'
import type { Deps } from '../../src/web/context.ts'

export const CHROMIUM = '/usr/bin/chromium'
export const SHOTS = join(import.meta.dirname, 'screenshots')

/** In CI a missing browser fails the run; on a laptop the suite is skipped, loudly. */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true
  if (process.env.CI === 'true')
    throw new Error(`CI=true but ${CHROMIUM} is missing: apt-get install chromium`)
  console.warn(
    `\n*** SKIPPING browser tests: ${CHROMIUM} not found (apt-get install chromium) ***\n`,
  )
  return false
}

export function launch(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}

export type Server = { url: string; firstLink: string; proc: ChildProcess; output: () => string }

/** A running `panel serve`: its base address, the process, and everything it printed so far. */
export type Panel = { url: string; proc: ChildProcess; output: () => string }

const START_TIMEOUT_MS = 30_000

/**
 * Spawns `node src/bin.js serve` on a free loopback port with `env` on top of this process's
 * environment, and resolves once `ready` finds what it needs in the output (stdout and stderr).
 * Rejects with the output so far when the panel exits first or has not started within 30 s.
 */
function spawnPanel<T>(
  env: Record<string, string>,
  ready: (out: string) => T | undefined,
): Promise<T & Panel> {
  const proc = spawn('node', ['src/bin.js', 'serve'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const output = () => out
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill()
      reject(new Error(`panel did not start within ${START_TIMEOUT_MS / 1000} s:\n${out}`))
    }, START_TIMEOUT_MS)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const url = out.match(/Panel listening on (http:\/\/\S+)/)?.[1]
      const extra = url ? ready(out) : undefined
      if (url && extra) {
        clearTimeout(timer)
        resolve({ ...extra, url, proc, output })
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    proc.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`panel exited with ${code}:\n${out}`))
    })
  })
}

/** Starts `panel serve` on a free port with a fresh data dir; resolves with its sign-in link. */
export function startPanel(): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'panel-e2e-'))
  // PANEL_TEST_DB=postgres: a first start on an empty database of its own.
  const pg = postgresDatabase()
  const env = { PANEL_DATA_DIR: dataDir, ...(pg ? { PANEL_DATABASE_URL: pg } : {}) }
  return spawnPanel(env, (out) => {
    const firstLink = out.match(/(http:\/\/\S+\/login\/link\/\S+)/)?.[1]
    return firstLink ? { firstLink } : undefined
  })
}

/**
 * Starts `panel serve` on a free port over the data dir and secret key of `deps` (a test's
 * freshDeps(), already holding its tenants); `env` adds or overrides variables, for example
 * `{ PANEL_RUNNER: '0' }` to serve pages without the runner. Stop it with stopPanel when done.
 */
export function servePanel(deps: Deps, env: Record<string, string> = {}): Promise<Panel> {
  return spawnPanel(
    {
      PANEL_DATA_DIR: deps.config.dataDir,
      PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
      // PANEL_TEST_DB=postgres: this deps' own database, whichever freshDeps() ran last.
      ...(deps.config.databaseUrl ? { PANEL_DATABASE_URL: deps.config.databaseUrl } : {}),
      ...env,
    },
    () => ({}),
  )
}

const STOP_TIMEOUT_MS = 5_000

/**
 * Stops a panel started by servePanel/startPanel and resolves once its process has exited:
 * SIGTERM first, SIGKILL if it is still running after 5 s. Safe to call on `undefined` or on a
 * panel that already exited, so afterAll can call it unconditionally.
 */
export async function stopPanel(panel: Pick<Panel, 'proc'> | undefined): Promise<void> {
  const proc = panel?.proc
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  proc.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)
    }),
  ])
  clearTimeout(timer)
  if (timedOut) {
    proc.kill('SIGKILL')
    await exited
  }
}

/** Saves a full-page screenshot as test/e2e/screenshots/<name>.png. */
export function shot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

/** Signs `username` in on the panel's login page with the test password (PASSWORD). */
export async function signIn(page: Page, url: string, username: string): Promise<void> {
  await page.goto(`${url}/login`)
  await page.fill('#f-username', username)
  await page.fill('#f-password', PASSWORD)
  await page.click('button:has-text("Sign in")')
}
