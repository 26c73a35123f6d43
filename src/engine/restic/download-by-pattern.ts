import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join, posix } from 'node:path'
import type { Readable } from 'node:stream'
import type { Destination, Tenant } from '../../db/schema.ts'
import { ConflictError } from '../../errors.ts'
import { runAs } from '../host/as-tenant.ts'
import type { EngineDeps } from '../deps.ts'
import { cancellable, type Producer } from './download-stream.ts'
import { runAsFor, tenantWorkDir, type RunAs } from '../host/isolation.ts'
import { includePattern } from './restic.ts'
import { removeSandbox } from '../host/sandbox.ts'
import { withRepository } from './snapshots.ts'

/** Staging folders of downloads under way in this process; any other `download-*` is a leftover. */
const active = new Set<string>()

/**
 * A file or folder whose name restic's JSON could not carry: restored by pattern into a
 * staging folder under `<work>/restore/` and streamed from there, all as the tenant; the
 * staging folder is removed however the download ends (and, should the panel die meanwhile,
 * by the tenant's next such download).
 */
export function byPattern(
  deps: EngineDeps,
  tenant: Tenant,
  dest: Destination,
  snapshot: string,
  target: { path: string; type: 'file' | 'dir' },
): Producer {
  return async (sink, signal) => {
    const who = runAsFor(tenant)
    const work = tenantWorkDir(deps.config.workDir, tenant.name, who)
    const root = join(work, 'restore')
    for (const name of await readdir(root).catch(() => [] as string[])) {
      const dir = join(root, name)
      if (/^download-[0-9a-f]{16}$/.test(name) && !active.has(dir))
        await removeSandbox(who, dir).catch(() => {})
    }
    const staging = join(root, `download-${randomBytes(8).toString('hex')}`)
    active.add(staging)
    try {
      await runAs(who, 'mkdir', ['-m', '700', '--', staging])
      const restore = ['restore', snapshot, '--target', staging]
      await withRepository(
        deps,
        tenant,
        dest,
        (repo) => cancellable(repo, [...restore, '--include', includePattern(target.path)]),
        signal,
      )
      // The pattern also matches siblings whose names differ only where bytes were lost (and
      // `?` matches any character): the one whose name reads exactly as the index says is
      // picked by inode, since its bytes cannot be given on a command line.
      const depth = String(target.path.split('/').length - 1)
      const level = ['.', '-mindepth', depth, '-maxdepth', depth]
      const listing = await collectAs(who, staging, [...level, '-printf', '%i %p\\0'], signal)
      const entries = splitNul(listing).map((entry) => {
        const space = entry.indexOf(0x20)
        return { inode: entry.subarray(0, space).toString(), name: entry.subarray(space + 2) }
      })
      const matches = entries.filter((e) => lossyName(e.name) === target.path)
      const inode = matches[0]?.inode
      // Two names that read the same, or a hard link beside it (find would send both): refused.
      if (matches.length !== 1 || entries.filter((e) => e.inode === inode).length !== 1) {
        throw new ConflictError(
          matches.length
            ? `Several names in this snapshot read as “${posix.basename(target.path)}”: download the folder that holds them.`
            : `restic restored nothing for “${target.path}”.`,
        )
      }
      const send =
        target.type === 'file'
          ? ['-type', 'f', '-exec', 'cat', '{}', '+']
          : ['-type', 'd', '-exec', 'tar', '-cf', '-', '--transform', 's,^\\./,,', '{}', '+']
      await streamAs(who, staging, [...level, '-inum', inode!, ...send], sink, signal)
    } finally {
      await removeSandbox(who, staging).catch((err) =>
        console.error(`[download] could not remove ${staging}: ${(err as Error).message}`),
      )
      active.delete(staging)
    }
  }
}

/** `bytes` as Go's encoding/json shows them (restic's JSON): each byte of bad UTF-8 as U+FFFD. */
export function lossyName(bytes: Buffer): string {
  let out = ''
  let i = 0
  while (i < bytes.length) {
    const n = utf8Length(bytes, i)
    out += n ? bytes.toString('utf8', i, i + n) : '\uFFFD'
    i += n || 1
  }
  return out
}

/** Length of the valid UTF-8 sequence at `i` (Go's rules: no overlong forms, no surrogates), or 0. */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i]!
  const next = (k: number, lo = 0x80, hi = 0xbf) =>
    b[i + k] !== undefined && b[i + k]! >= lo && b[i + k]! <= hi
  if (c < 0x80) return 1
  if (c >= 0xc2 && c <= 0xdf) return next(1) ? 2 : 0
  if (c >= 0xe0 && c <= 0xef) {
    const ok = c === 0xe0 ? next(1, 0xa0) : c === 0xed ? next(1, 0x80, 0x9f) : next(1)
    return ok && next(2) ? 3 : 0
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const ok = c === 0xf0 ? next(1, 0x90) : c === 0xf4 ? next(1, 0x80, 0x8f) : next(1)
    return ok && next(2) && next(3) ? 4 : 0
  }
  return 0
}

function splitNul(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = buf.indexOf(0); i !== -1; i = buf.indexOf(0, start)) {
    out.push(buf.subarray(start, i))
    start = i + 1
  }
  return out
}

/**
 * Runs `find <args>` as the tenant inside `dir` (the shell changes into it as the tenant, so a
 * planted symlink leads nowhere the tenant could not go), handing its stdout to `sink`. Aborting
 * `signal` kills its whole process group: the `cat` or `tar` find started goes too.
 */
function streamAs(
  who: RunAs,
  dir: string,
  args: string[],
  sink: (s: Readable) => void,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'cd -- "$0" && exec find "$@"', dir, ...args], {
      uid: who?.uid,
      gid: who?.gid,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    if (signal.aborted) kill()
    else signal.addEventListener('abort', kill, { once: true })
    let stderr = ''
    child.stdout.on('error', () => {})
    child.stderr.on('error', () => {})
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
    sink(child.stdout)
    child.on('error', reject)
    child.on('close', (code) => {
      signal.removeEventListener('abort', kill)
      if (code === 0) return resolve()
      if (signal.aborted) return reject(new Error('The download was cancelled.'))
      reject(
        new Error(`Reading the restored copy failed: ${stderr.trim().split('\n').at(-1) ?? code}`),
      )
    })
  })
}

/** Runs `find <args>` as the tenant inside `dir` and collects its output as bytes. */
async function collectAs(
  who: RunAs,
  dir: string,
  args: string[],
  signal: AbortSignal,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  await streamAs(who, dir, args, (s) => s.on('data', (c: Buffer) => chunks.push(c)), signal)
  return Buffer.concat(chunks)
}
