import { spawn } from 'node:child_process'
import type { RunAs } from './isolation.ts'

/**
 * Runs a command as the tenant's user (or as ourselves when `runAs` is null), with no shell.
 * Used for every touch of tenant-owned paths, so a planted symlink can only reach what the
 * tenant could reach anyway. With `opts.signal` the command is killed when it aborts.
 */
export function runAs(
  runAs: RunAs,
  cmd: string,
  args: string[],
  input?: string,
  opts: { signal?: AbortSignal } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      uid: runAs?.uid,
      gid: runAs?.gid,
      signal: opts.signal,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${cmd} failed: ${err.trim().split('\n').at(-1) ?? code}`)),
    )
    if (input !== undefined) {
      child.stdin!.on('error', () => {}) // a child that exits early closes its stdin; its exit code tells
      child.stdin!.end(input)
    }
  })
}

// Runs as the tenant. argv: the path; stdin: the content. A regular file already holding exactly
// that content is left as it is (its time too, so a backup sees nothing new); anything else at
// the path, a symlink included, is unlinked and the file created anew, never through a link.
const WRITE_SCRIPT = `
const fs = require('fs')
const C = fs.constants
const p = process.argv[1]
const data = fs.readFileSync(0)
let same = false
try {
  const fd = fs.openSync(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK)
  try {
    const st = fs.fstatSync(fd)
    same = st.isFile() && st.size === data.length && fs.readFileSync(fd).equals(data)
  } finally {
    fs.closeSync(fd)
  }
} catch {}
if (!same) {
  try { fs.unlinkSync(p) } catch {}
  const fd = fs.openSync(p, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600)
  fs.writeSync(fd, data)
  fs.closeSync(fd)
}
`

/**
 * Writes a small file as the tenant (mode 0600), never following a symlink at `path`; a file
 * that already holds exactly `data` is left untouched.
 */
export async function writeFileAs(who: RunAs, path: string, data: string): Promise<void> {
  await runAs(who, process.execPath, ['-e', WRITE_SCRIPT, path], data)
}

/** Empties a tenant-owned directory as the tenant. */
export async function emptyDirAs(who: RunAs, dir: string): Promise<void> {
  await runAs(who, 'find', [dir, '-mindepth', '1', '-delete'])
}
