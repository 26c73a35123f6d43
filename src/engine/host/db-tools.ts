import { spawn, type StdioOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { DbConn } from '../../db/tenants.ts'
import type { RunAs } from './isolation.ts'

// How the database tools (dump, load, count) are run: credentials in a 0600 file or the
// environment, never argv; an argv array, never a shell; as the tenant's user.

/** The system user the dump tools run as (the tenant's), or null for the panel's own user. */
export type { RunAs }

/**
 * Options shared by every call. `workDir` must exist, be writable by the panel and searchable by
 * `runAs`: the credentials file (0600, random name, owned by `runAs`) lives there only while the
 * tool runs.
 */
export type ToolOptions = { workDir: string; runAs: RunAs; signal?: AbortSignal }

export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin'

export type Tool = { path: string; label: string }
/** How the tool gets the connection: leading args, environment, and the secret to scrub. */
export type Creds = { args: string[]; env: Record<string, string>; secret: string | null }

/**
 * Runs `fn` with a path to `path` that cannot be redirected: the directory is opened without
 * following a symlink and the file is reached through /proc/self/fd (Linux), so a tenant who
 * owns the directory's parent cannot swap it for a link to where only root may write.
 */
export async function pinned<T>(path: string, fn: (pinnedPath: string) => Promise<T>): Promise<T> {
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW
  const dir = await open(dirname(path), flags).catch((err: Error) => {
    throw new Error(`${dirname(path)} is missing, a symlink or not a directory.`, { cause: err })
  })
  try {
    return await fn(`/proc/self/fd/${dir.fd}/${basename(path)}`)
  } finally {
    await dir.close()
  }
}

/**
 * Runs `fn` with the connection in a 0600 file in `workDir` (MariaDB option file, given as the
 * first argument; PostgreSQL password file) plus environment, never argv. The file always goes.
 */
export async function withCredentials<T>(
  conn: DbConn,
  opts: ToolOptions,
  fn: (creds: Creds) => Promise<T>,
): Promise<T> {
  opts.signal?.throwIfAborted()
  if (conn.port !== null && !(Number.isInteger(conn.port) && conn.port > 0 && conn.port < 65536)) {
    throw new Error(`${conn.port} is not a valid port number.`)
  }
  const file = join(opts.workDir, `.panel-creds-${randomBytes(12).toString('hex')}`)
  // No ~/.my.cnf, ~/.pgpass or ~/.psqlrc of root or the tenant; untranslated client messages.
  const env: Record<string, string> = {
    PATH: process.env.PATH || DEFAULT_PATH,
    HOME: '/nonexistent',
    LC_ALL: 'C',
  }
  let creds: Creds = { args: [`--defaults-extra-file=${file}`], env, secret: conn.password }
  if (conn.engine === 'postgresql') {
    creds = { args: [], env: { ...env, ...pgEnv(conn), PGPASSFILE: file }, secret: conn.password }
  }
  const text = conn.engine === 'mariadb' ? myCnf(conn) : pgpass(conn.password)
  const handle = await open(file, 'wx', 0o600)
  try {
    try {
      if (opts.runAs) await handle.chown(opts.runAs.uid, opts.runAs.gid)
      await handle.writeFile(text)
    } finally {
      await handle.close()
    }
    return await fn(creds)
  } finally {
    await rm(file, { force: true })
  }
}

function pgEnv(conn: DbConn): Record<string, string> {
  const env: Record<string, string> = { PGCONNECT_TIMEOUT: '30', PGAPPNAME: 'panel-backups' }
  if (conn.host !== null) env.PGHOST = conn.host
  if (conn.port !== null) env.PGPORT = String(conn.port)
  if (conn.username !== null) env.PGUSER = conn.username
  return env
}

function myCnf(conn: DbConn): string {
  // Double quotes keep '#' and edge spaces; these are the escapes option files understand.
  const escapes: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b' }
  const quote = (v: string) => `"${v.replace(/[\\"\n\r\t\b]/g, (c) => escapes[c] ?? `\\${c}`)}"`
  const lines = ['[client]']
  if (conn.username !== null) lines.push(`user=${quote(conn.username)}`)
  if (conn.password !== null) lines.push(`password=${quote(conn.password)}`)
  if (conn.host !== null) lines.push(`host=${quote(conn.host)}`)
  if (conn.host !== null && conn.port !== null) lines.push(`port=${conn.port}`)
  return lines.join('\n') + '\n'
}

function pgpass(password: string | null): string {
  if (password === null) return ''
  if (/[\n\r]/.test(password)) throw new Error('A PostgreSQL password cannot contain a line break.')
  return `*:*:*:*:${password.replace(/[\\:]/g, (c) => `\\${c}`)}\n`
}

type Stdio = { stdin?: number | NodeJS.ReadableStream; stdout?: number }

/**
 * Spawns the tool (argv array, no shell) and resolves with its stdout, unless `stdio.stdout` is a
 * file descriptor. Rejects with the last error line of stderr, the password scrubbed.
 */
export function runTool(tool: Tool, creds: Creds, args: string[], opts: ToolOptions, stdio: Stdio) {
  return new Promise<string>((resolve, reject) => {
    const stream = typeof stdio.stdin === 'object' ? stdio.stdin : null
    const stdin = typeof stdio.stdin === 'number' ? stdio.stdin : stream ? 'pipe' : 'ignore'
    const io: StdioOptions = [stdin, stdio.stdout ?? 'pipe', 'pipe']
    const child = spawn(tool.path, [...creds.args, ...args], {
      cwd: '/',
      env: creds.env,
      signal: opts.signal,
      ...(opts.runAs ?? {}),
      stdio: io,
    })
    let out = ''
    let err = ''
    let failure: Error | undefined
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-16384)))
    if (stream && child.stdin) {
      stream.once('error', (e: Error & { code?: string }) => {
        // The tool exiting early breaks the pipe and closes the stream: its exit status says why.
        if (e.code === 'ERR_STREAM_PREMATURE_CLOSE') return
        failure ??= new Error(`Reading the dump failed: ${e.message}`, { cause: e })
        child.kill()
      })
      // The tool exiting early breaks this pipe; its exit status says why.
      pipeline(stream, child.stdin).catch(() => {})
    }
    child.once('error', (e) => {
      if (child.pid === undefined) reject(new Error(`${tool.label} could not start: ${e.message}`))
      else failure ??= e // an AbortError: wait for the exit so files are not removed under the tool
    })
    child.once('close', (code, signal) => {
      if (failure) return reject(failure)
      if (code === 0) return resolve(out)
      const why =
        lastErrorLine(err, tool.label) || (signal ? `killed by ${signal}` : `exit code ${code}`)
      const secret = creds.secret
      reject(new Error(`${tool.label} failed: ${secret ? why.split(secret).join('***') : why}`))
    })
  })
}

/** The line that says what went wrong: tools print context (LINE 1:, LOCATION:) after it. */
function lastErrorLine(stderr: string, label: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
  const line =
    [...lines].reverse().find((l) => /\b(ERROR|FATAL|PANIC|error)\b/.test(l)) ?? lines.at(-1) ?? ''
  return line.replace(new RegExp(`^${label}: (error: )?`), '')
}
