import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const SHOTS = join(import.meta.dirname, 'screenshots')

/** In CI a missing browser fails the run; on a laptop the suite is skipped, loudly. */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true
  if (process.env.CI === 'true') throw new Error(`CI=true but ${CHROMIUM} is missing: apt-get install chromium`)
  console.warn(`\n*** SKIPPING browser tests: ${CHROMIUM} not found (apt-get install chromium) ***\n`)
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

/** Starts `panel serve` on a free port with a fresh data dir; resolves with its sign-in link. */
export function startPanel(): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'panel-e2e-'))
  const proc = spawn('node', ['src/bin.js', 'serve'], {
    env: { ...process.env, PANEL_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`panel did not start:\n${out}`)), 30_000)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const url = out.match(/Panel listening on (http:\/\/\S+)/)?.[1]
      const link = out.match(/(http:\/\/\S+\/login\/link\/\S+)/)?.[1]
      if (url && link) {
        clearTimeout(timer)
        resolve({ url, firstLink: link, proc, output: () => out })
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    proc.on('exit', (code) => reject(new Error(`panel exited with ${code}:\n${out}`)))
  })
}
