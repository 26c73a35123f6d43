import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
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

/** Writes a small file as the tenant (mode 0600), never following a symlink at `path`. */
export async function writeFileAs(who: RunAs, path: string, data: string): Promise<void> {
  if (!who) {
    writeFileSync(path, data, { mode: 0o600 })
    return
  }
  const script =
    "const fs=require('fs');const p=process.argv[1];try{fs.unlinkSync(p)}catch{};" +
    'const fd=fs.openSync(p,fs.constants.O_WRONLY|fs.constants.O_CREAT|fs.constants.O_EXCL|fs.constants.O_NOFOLLOW,0o600);' +
    'fs.writeSync(fd,fs.readFileSync(0));fs.closeSync(fd)'
  await runAs(who, process.execPath, ['-e', script, path], data)
}

/** Empties a tenant-owned directory as the tenant. */
export async function emptyDirAs(who: RunAs, dir: string): Promise<void> {
  await runAs(who, 'find', [dir, '-mindepth', '1', '-delete'])
}
