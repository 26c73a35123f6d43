import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

/**
 * What a command used: peak resident memory (VmHWM, bytes) of the root process and, by command
 * name, of its descendants; CPU seconds (user + system) of the root itself and of the children
 * it has reaped (restic under the panel).
 */
export type Usage = {
  peak: number
  childPeaks: Record<string, number>
  cpu: number
  childCpu: number
}

/** One timed command. `code` is null when it was killed (timeout or interrupt). */
export type Measured = {
  ms: number
  /** Wall-clock spawn and exit (epoch ms), to line up with timestamps the command recorded. */
  started: number
  ended: number
  code: number | null
  stdout: string
  stderr: string
  usage: Usage
  timedOut: boolean
}

const SAMPLE_MS = 50
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100
const running = new Set<ChildProcess>()

function status(pid: number): { name: string; hwm: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const name = /^Name:\s*(.*)$/m.exec(text)?.[1] ?? '?'
    const hwm = Number(/^VmHWM:\s*(\d+) kB$/m.exec(text)?.[1] ?? 0) * 1024
    return { name, hwm }
  } catch {
    return null // gone between the listing and the read
  }
}

/** Every live descendant of `root`, from the parent pids in /proc/<pid>/stat. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // The command name is in parentheses and may contain spaces: parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = []
  for (let queue = [root]; queue.length;) {
    const kids = children.get(queue.shift()!) ?? []
    out.push(...kids)
    queue.push(...kids)
  }
  return out
}

/** CPU seconds of `pid` itself and of its reaped children, from /proc/<pid>/stat. */
function cpuOf(pid: number): { self: number; children: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields 14-17 (utime stime cutime cstime) are 11-14 after the state, in clock ticks.
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number)
    return { self: (f[11]! + f[12]!) / TICKS, children: (f[13]! + f[14]!) / TICKS }
  } catch {
    return null
  }
}

/**
 * Samples `roots` and their descendants every 50 ms until stopped. VmHWM and CPU time only
 * grow, so the last sample before a process exits is at most 50 ms stale.
 */
export function sampleUsage(roots: number[]): { stop(): Usage } {
  const peaks = { self: 0, children: {} as Record<string, number> }
  const cpu = new Map<number, { self: number; children: number }>()
  const tick = () => {
    for (const root of roots) {
      const own = status(root)
      if (own) peaks.self = Math.max(peaks.self, own.hwm)
      const used = cpuOf(root)
      if (used) cpu.set(root, used)
      for (const pid of descendants(root)) {
        const s = status(pid)
        if (s) peaks.children[s.name] = Math.max(peaks.children[s.name] ?? 0, s.hwm)
      }
    }
  }
  tick()
  const timer = setInterval(tick, SAMPLE_MS)
  return {
    stop() {
      clearInterval(timer)
      const all = [...cpu.values()]
      return {
        peak: peaks.self,
        childPeaks: peaks.children,
        cpu: all.reduce((n, c) => n + c.self, 0),
        childCpu: all.reduce((n, c) => n + c.children, 0),
      }
    },
  }
}

let stopping = false

/** A command could not run or finish because the benchmark is being stopped. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted')
  }
}

export const isStopping = () => stopping

/**
 * Registers a child this benchmark started, so `stopStarted` can end it on interrupt. Once
 * stopping, a new child is killed at once: nothing new runs while we clean up.
 */
export function track(child: ChildProcess): void {
  if (stopping) child.kill('SIGKILL')
  running.add(child)
  child.once('close', () => running.delete(child))
}

/**
 * Ends a child this benchmark started and its live descendants (restic under the panel), by
 * pid. Descendants are listed before anything is signalled, while they are still ours.
 */
function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  for (const pid of child.pid ? descendants(child.pid) : []) {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
  child.kill(signal)
}

const settled = (ms: number) =>
  new Promise<void>((resolve) => {
    const deadline = Date.now() + ms
    const poll = setInterval(() => {
      if (running.size === 0 || Date.now() > deadline) resolve(clearInterval(poll))
    }, 50)
  })

/**
 * Ends every child this benchmark started (SIGTERM, then SIGKILL after 1.5 s), with its
 * descendants, and refuses new ones. Resolves once they are gone or 2.5 s have passed.
 */
export async function stopStarted(): Promise<void> {
  stopping = true
  for (const child of running) killTree(child, 'SIGTERM')
  await settled(1500)
  for (const child of running) killTree(child, 'SIGKILL')
  await settled(1000)
}

/**
 * Runs `cmd args` (no shell) with optional stdin text, timing wall clock from spawn to exit and
 * sampling memory and CPU (`Usage`). Never rejects for a non-zero exit: the caller decides what
 * failed. Rejects with `Interrupted` once the benchmark is stopping.
 */
export function measure(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    if (stopping) return reject(new Interrupted())
    const start = performance.now()
    const started = Date.now()
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    track(child)
    const sampler = sampleUsage([child.pid ?? -1])
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child
      .stderr!.setEncoding('utf8')
      .on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)))
    child.stdin!.on('error', () => {}).end(opts.input ?? '')
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true
          killTree(child, 'SIGKILL')
        }, opts.timeoutMs)
      : null
    child.once('error', (err) => {
      sampler.stop()
      if (timer) clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code) => {
      const ms = performance.now() - start
      const usage = sampler.stop()
      if (timer) clearTimeout(timer)
      if (stopping) return reject(new Interrupted())
      resolve({ ms, started, ended: Date.now(), code, stdout, stderr, usage, timedOut })
    })
  })
}

/** The last meaningful line of a failed command's output, for an error row. */
export function failure(m: Measured, what: string): string {
  if (m.timedOut) return `${what} timed out after ${(m.ms / 1000).toFixed(0)} s`
  const line =
    m.stderr.trim().split('\n').filter(Boolean).at(-1) ?? m.stdout.trim().split('\n').at(-1)
  return `${what} exited ${m.code}: ${line ?? '(no output)'}`
}
