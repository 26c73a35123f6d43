import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  Interrupted,
  failure,
  isStopping,
  measure,
  sampleUsage,
  track,
  type Measured,
} from './measure.ts'

/** Stock restic against a plain local repository: the baseline the panel is compared with. */
export type DirectRestic = {
  backup(paths: string[]): Promise<Measured>
  restore(target: string): Promise<Measured>
}

/**
 * Stock restic on the repository folder `repo`, its cache in `cache` (created). Progress is
 * JSON at 2 fps, as the panel runs it, so both pay the same for reporting.
 */
export function resticAt(
  repo: string,
  password: string,
  cache: string,
  timeoutMs: number,
): DirectRestic & { init(): Promise<Measured> } {
  mkdirSync(cache, { recursive: true })
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: cache,
    RESTIC_REPOSITORY: repo,
    RESTIC_PASSWORD: password,
    RESTIC_PROGRESS_FPS: '2',
  }
  const restic = (args: string[]) => measure('restic', args, { env, timeoutMs })
  return {
    init: () => restic(['init']),
    backup: (paths) => restic(['backup', '--json', '--cache-dir', cache, '--', ...paths]),
    restore: (target) => restic(['restore', 'latest', '--cache-dir', cache, '--target', target]),
  }
}

/** A new repository `<root>/restic-<n>/repo` (its `restic init` untimed), cache beside it. */
export async function directRestic(
  root: string,
  n: number,
  timeoutMs: number,
): Promise<DirectRestic> {
  const dir = join(root, `restic-${n}`)
  const restic = resticAt(join(dir, 'repo'), 'bench restic password', join(dir, 'cache'), timeoutMs)
  const init = await restic.init()
  if (init.code !== 0) throw new Error(failure(init, 'restic init'))
  return restic
}

/**
 * `tar -c <home> | zstd -3 -T0 -q -o <out>` as two spawned processes joined by a pipe (no
 * shell). The time runs until both have exited; peak memory is the larger of the two.
 */
export function tarZstd(home: string, out: string): Promise<Measured> {
  return new Promise((resolve, reject) => {
    if (isStopping()) return reject(new Interrupted())
    const start = performance.now()
    const started = Date.now()
    const tar = spawn('tar', ['-c', '-f', '-', '-C', dirname(home), '--', basename(home)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const zstd = spawn('zstd', ['-3', '-T0', '-q', '-o', out], {
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    track(tar)
    track(zstd)
    const sampler = sampleUsage([tar.pid ?? -1, zstd.pid ?? -1])
    // A zstd that died (or was stopped) shows as its exit status; the broken pipe adds nothing.
    zstd.stdin!.on('error', () => {})
    tar.stdout!.pipe(zstd.stdin!)
    let stderr = ''
    for (const p of [tar, zstd])
      p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const codes: (number | null)[] = []
    const done = (code: number | null) => {
      codes.push(code)
      if (codes.length < 2) return
      const ms = performance.now() - start
      const code0 = codes.find((c) => c !== 0) ?? 0
      const usage = sampler.stop()
      if (isStopping()) return reject(new Interrupted())
      resolve({
        ms,
        started,
        ended: Date.now(),
        code: code0,
        stdout: '',
        stderr,
        usage,
        timedOut: false,
      })
    }
    for (const p of [tar, zstd]) {
      let ended = false
      const end = (code: number | null) => {
        if (!ended) done(code)
        ended = true
      }
      p.once('error', (err) => ((stderr += `${err.message}\n`), end(1)))
      p.once('close', end)
    }
  })
}
