import { spawn, execFile } from 'node:child_process'
import { createInterface } from 'node:readline'
import { PassThrough, pipeline, type Readable } from 'node:stream'
import type { RunAs } from '../host/isolation.ts'

/** How long a cancelled restic may take to remove its lock before it is killed. */
const ABORT_GRACE_MS = 10_000

/** restic's exit status 3: the snapshot was made but some files could not be read. */
export const EXIT_PARTIAL = 3

export class ResticError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly permanent: boolean,
  ) {
    super(message)
  }
}

/** What a restic process gets: the bridge URL and password only through the environment. */
export type ResticEnv = {
  repository: string
  password: string
  cacheDir: string
  runAs: RunAs
  signal?: AbortSignal
  /** The tenant's IANA time zone: restic's days, weeks and months (retention) are theirs. */
  timezone?: string
  /** Each restic process started with this environment, appended when it ends. */
  tally?: ResticStart[]
}

/** One restic process: its command (`backup`, `forget`…) and how long it ran. */
export type ResticStart = { command: string; ms: number }

const COMMANDS = new Set(
  'backup forget prune init unlock snapshots ls restore dump check key cat stats tag'.split(' '),
)

/** `restic ran 2 times (backup 0.41 s, forget 0.22 s)`: what a job's log says about them. */
export function tallyWords(tally: ResticStart[]): string {
  const each = tally.map((s) => `${s.command} ${(s.ms / 1000).toFixed(2)} s`).join(', ')
  return `restic ran ${tally.length} time${tally.length === 1 ? '' : 's'} (${each})`
}

function environment(env: ResticEnv): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: env.cacheDir,
    RESTIC_REPOSITORY: env.repository,
    RESTIC_PASSWORD: env.password,
    RESTIC_CACHE_DIR: env.cacheDir,
    RESTIC_PROGRESS_FPS: '2',
    TZ: env.timezone || 'UTC',
  }
}

type Secrets = Pick<ResticEnv, 'repository' | 'password'>

/** Replaces the bridge URL (with its credentials) and the repository password in text. */
export function scrubber(env: Secrets): (text: string) => string {
  return (s) => s.split(env.repository).join('<repository>').split(env.password).join('<password>')
}

/** restic's last meaningful stderr line, scrubbed, without its "Fatal: " prefix. */
export function lastLine(stderr: string, env: Secrets): string {
  const last = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Fatal:\s*$/.test(l))
    .at(-1)
  return scrubber(env)(last ?? 'restic failed without a message').replace(/^Fatal: /, '')
}

/** Turns restic's stderr into one plain sentence, with the bridge credentials scrubbed. */
function reason(stderr: string, env: ResticEnv): { text: string; permanent: boolean } {
  const all = scrubber(env)(stderr.trim())
  if (/wrong password|no key found/i.test(all)) {
    return {
      text: 'The repository password is wrong: restic could not open the repository.',
      permanent: true,
    }
  }
  if (
    /repository master key and config already initialized|config file already exists/i.test(all)
  ) {
    return { text: 'A repository already exists there with a different password.', permanent: true }
  }
  if (/no space left|disk is full|ENOSPC/i.test(all)) {
    return { text: 'The destination is out of space (disk full).', permanent: false }
  }
  if (/not writable|permission denied|EACCES/i.test(all) && /\bsave\b|\bcreate\b|500/i.test(all)) {
    return { text: 'The destination refused the write (not writable).', permanent: false }
  }
  return { text: lastLine(stderr, env), permanent: false }
}

/**
 * Runs restic with `args`, calling `onJson` for each JSON line of stdout (with `--json`).
 * Resolves with the exit code and stderr when the code is in `okCodes`; otherwise rejects
 * with a ResticError in plain words.
 */
export function runRestic(
  args: string[],
  env: ResticEnv,
  opts: {
    onJson?: (msg: any) => void
    okCodes?: number[]
    /** Gets restic's stdout to read; restic's exit status, not the stream, tells how it ended. */
    stdout?: (s: Readable) => void
    /** How long restic may take to remove its lock once `env.signal` aborted (default 10 s). */
    graceMs?: number
  } = {},
): Promise<{ code: number; stderr: string }> {
  const began = Date.now()
  const command = args.find((a) => COMMANDS.has(a)) ?? args[0] ?? ''
  return new Promise((resolve, reject) => {
    const child = spawn('restic', args, {
      env: environment(env),
      uid: env.runAs?.uid,
      gid: env.runAs?.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: env.signal,
      killSignal: 'SIGINT',
    })
    let stderr = ''
    // A pipe error (the reader went away) shows up as restic's exit status; unheard, it would
    // take the whole panel down.
    child.stdout.on('error', () => {})
    child.stderr.on('error', () => {})
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-20_000)
    })
    // restic prints its per-file errors as JSON on stderr, even with --json.
    if (opts.onJson) {
      createInterface({ input: child.stderr }).on('line', (line) => {
        if (!line.startsWith('{')) return
        try {
          opts.onJson!(JSON.parse(line))
        } catch {
          // not JSON after all
        }
      })
    }
    if (opts.stdout) {
      // Piped at once: Node drains an untouched stdout of a child that has exited, so a small
      // dump could be gone before its reader (a loader still creating its database) starts. The
      // pipe keeps restic's back-pressure, and a reader that gives up destroys restic's stdout.
      const out = new PassThrough()
      pipeline(child.stdout, out, () => {})
      opts.stdout(out)
    } else if (opts.onJson) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (!line.startsWith('{') && !line.startsWith('[')) return
        try {
          opts.onJson!(JSON.parse(line))
        } catch {
          // restic prints the odd non-JSON line even with --json
        }
      })
    } else child.stdout.resume()
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT')
        reject(new ResticError('restic is not installed (apt-get install restic).', null, true))
      else if (err.name === 'AbortError') {
        // Node has sent SIGINT: restic removes its lock and exits, and 'close' settles. It must
        // not outlive its job (the bridge is about to close), so it is killed after a grace period.
        const kill = setTimeout(() => child.kill('SIGKILL'), opts.graceMs ?? ABORT_GRACE_MS)
        child.once('close', () => clearTimeout(kill))
      } else reject(new ResticError(err.message, null, false))
    })
    child.on('close', (code) => {
      env.tally?.push({ command, ms: Date.now() - began })
      const exit = code ?? -1
      if ((opts.okCodes ?? [0]).includes(exit)) return resolve({ code: exit, stderr })
      if (env.signal?.aborted) return reject(new ResticError('The job was cancelled.', exit, false))
      const why = reason(stderr, env)
      reject(new ResticError(why.text, exit, why.permanent))
    })
  })
}

/**
 * A restic `--include` pattern matching exactly `path`: glob characters escaped, and each U+FFFD
 * (one byte that is not UTF-8 in restic's JSON) matching any one byte.
 */
export function includePattern(path: string): string {
  return path.replace(/[*?[\\]/g, (c) => `\\${c}`).replace(/\uFFFD/g, '?')
}

/** Collects the whole JSON document restic prints (for snapshots, ls without streaming). */
export async function resticJson<T>(args: string[], env: ResticEnv): Promise<T[]> {
  const out: T[] = []
  await runRestic([...args, '--json'], env, {
    onJson: (m) => (Array.isArray(m) ? out.push(...m) : out.push(m)),
  })
  return out
}

/** restic's version, or null when it is not installed. */
export function resticVersion(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('restic', ['version'], (err, stdout) => {
      if (err) return resolve(null)
      resolve(stdout.match(/restic (\d+\.\d+\.\d+)/)?.[1] ?? null)
    })
  })
}

export const MIN_RESTIC = '0.14.0'

/** A warning for admins when restic is missing or older than MIN_RESTIC; null when fine. */
export function resticProblem(version: string | null): string | null {
  if (!version)
    return 'restic is not installed, so no backup can run. Install it: apt-get install restic'
  const [a, b] = version.split('.').map(Number)
  const [ma, mb] = MIN_RESTIC.split('.').map(Number)
  if (a! < ma! || (a === ma && b! < mb!)) {
    return `restic ${version} is too old; ${MIN_RESTIC} or newer is needed. Upgrade it from the OS packages.`
  }
  return null
}
