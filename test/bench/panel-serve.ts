import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { track } from './measure.ts'
import type { Panel } from './panel.ts'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A running `panel serve` (web server and its runner in one process) on a free loopback port. */
export type PanelServe = {
  url: string
  pid: number
  /** SIGTERM (the runner stops its jobs), SIGKILL after 20 s; resolves once it has exited. */
  stop(): Promise<void>
}

/**
 * Starts `node src/bin.js serve` with the panel's environment on 127.0.0.1 and a port the
 * kernel picks, and resolves once it prints where it listens. Its output is kept for the
 * error when it exits early. The runner runs at its default concurrency unless `env` says.
 */
export function startServe(panel: Panel, env: NodeJS.ProcessEnv = {}): Promise<PanelServe> {
  const child = spawn(process.execPath, ['src/bin.js', 'serve'], {
    cwd: REPO_ROOT,
    env: { ...panel.env, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  track(child)
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
  }
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output = (output + d.toString('utf8')).slice(-10_000)
      const url = /Panel listening on (http:\/\/\S+)/.exec(output)?.[1]
      if (url) {
        child.stdout!.off('data', onData)
        child.stdout!.resume()
        resolve({ url, pid: child.pid!, stop })
      }
    }
    child.stdout!.on('data', onData)
    // Keep the last of stderr: runner errors during the run are worth a look on failure.
    child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString('utf8')).slice(-10_000)))
    child.once('error', reject)
    child.once('close', (code) =>
      reject(new Error(`panel serve exited (${code}) before listening: ${output.trim()}`)),
    )
  })
}
