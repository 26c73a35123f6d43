import { runAs } from './as-tenant.ts'
import type { RunAs } from './isolation.ts'

/** What putting a staged tree back did: counts, and the entries that could not be put back. */
export type PutBack = {
  /** Entries moved by one rename (a folder that was missing counts once, with all it holds). */
  renamed: number
  /** Files copied because the staging and their place are on different filesystems. */
  copied: number
  /** Up to 20 entries that could not be put back, relative to the target, with the reason. */
  failed: { path: string; reason: string }[]
  /** How many failed in all. */
  failedCount: number
}

// Runs as the tenant. argv: the staged tree, the target folder. Merges the staged tree into the
// target like `cp -a --remove-destination staged/. target/`, but by rename(2): no data is copied,
// and an entry is moved whole when its place is free (one rename for a missing folder and all
// it holds). A folder that exists on both sides is merged and then gets the staged mode and
// times (a folder that is not the tenant's, as a chrooted home is root's, keeps the host's).
// The target side is only ever lstat'ed, and rename(2) replaces a symlink at its destination
// instead of following it; a symlink where the backup has a folder is removed (the link, never
// what it points to) and replaced. So nothing is written through a link planted in the home.
// EXDEV (the place is on another filesystem, e.g. a mount inside the home) falls back to
// copying that entry, again without following links. Names are bytes (Buffers): names that are
// not UTF-8 pass through unchanged. Prints a JSON PutBack.
const PUT_BACK_SCRIPT = `
const fs = require('fs')
const C = fs.constants
const out = { renamed: 0, copied: 0, failed: [], failedCount: 0 }
const slash = Buffer.from('/')
const join = (a, b) => Buffer.concat([a, slash, b])
const rel = (p) => p.subarray(root.length + 1).toString() || '.'
const lstat = (p) => {
  try { return fs.lstatSync(p) } catch (e) { if (e.code === 'ENOENT') return null; throw e }
}
const fail = (p, e) => {
  out.failedCount++
  const reason = words[e.code] || String(e.code || e.message)
  if (out.failed.length < 20) out.failed.push({ path: rel(p), reason })
}
const words = {
  EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'read-only filesystem',
  EISDIR: 'a folder is in the way', ENOTEMPTY: 'a folder is in the way',
  EEXIST: 'something appeared in the way', ENOSPC: 'no space left on the disk',
  EDQUOT: 'your disk quota is full', ESPECIAL: 'not a regular file, folder or link',
}
const keepMeta = (p, s) => { fs.chmodSync(p, s.mode & 0o7777); fs.lutimesSync(p, s.atime, s.mtime) }
// Folders need u+wx to give up or take in entries; their own mode is set again at the end.
const writable = (p, s) => {
  if ((s.mode & 0o300) !== 0o300) fs.chmodSync(p, (s.mode & 0o7777) | 0o700)
}

function put(src, dst) {
  const s = fs.lstatSync(src)
  const d = lstat(dst)
  if (s.isDirectory() && d && d.isDirectory()) {
    writable(src, s)
    writable(dst, d)
    for (const name of fs.readdirSync(src, { encoding: 'buffer' })) {
      try { put(join(src, name), join(dst, name)) } catch (e) { fail(join(dst, name), e) }
    }
    try { keepMeta(dst, s) } catch (e) { if (e.code !== 'EPERM') throw e }
    return
  }
  if (d && d.isDirectory()) throw Object.assign(new Error('in the way'), { code: 'EISDIR' })
  // A folder may only change its parent when it is writable itself (its '..' entry changes).
  if (s.isDirectory()) writable(src, s)
  if (d && s.isDirectory()) fs.unlinkSync(dst)
  try {
    fs.renameSync(src, dst)
    out.renamed++
  } catch (e) {
    if (e.code !== 'EXDEV') throw e
    copy(src, dst, s)
    return
  }
  if (s.isDirectory()) fs.chmodSync(dst, s.mode & 0o7777)
}

function copy(src, dst, s) {
  const d = lstat(dst)
  if (s.isDirectory()) {
    if (d && !d.isDirectory()) fs.unlinkSync(dst)
    if (!d || !d.isDirectory()) fs.mkdirSync(dst, 0o700)
    else writable(dst, d)
    writable(src, s)
    for (const name of fs.readdirSync(src, { encoding: 'buffer' })) {
      const from = join(src, name)
      try { copy(from, join(dst, name), fs.lstatSync(from)) } catch (e) { fail(join(dst, name), e) }
    }
    keepMeta(dst, s)
    return
  }
  if (d) fs.unlinkSync(dst)
  if (s.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src, { encoding: 'buffer' }), dst)
  else if (s.isFile()) {
    // EXCL: whatever appeared at dst since the unlink (a planted link too) is not opened.
    fs.copyFileSync(src, dst, C.COPYFILE_EXCL)
    keepMeta(dst, s)
  } else throw Object.assign(new Error('special file'), { code: 'ESPECIAL' })
  out.copied++
}

const root = Buffer.from(process.argv[2])
try { put(Buffer.from(process.argv[1]), root) } catch (e) { fail(root, e) }
process.stdout.write(JSON.stringify(out))
`

/**
 * Puts a restored tree back in place, as the tenant: `staged` (a folder restic restored into,
 * on the same filesystem as `target`) is merged into `target` by renames, entry by entry, and
 * is left without what was moved. Existing files are replaced, folders merged (files the backup
 * does not have stay), and a symlink in the target is never followed. Resolves with what it did,
 * failures included; rejects only when the tenant's process could not run.
 */
export async function putBack(
  who: RunAs,
  staged: string,
  target: string,
  signal?: AbortSignal,
): Promise<PutBack> {
  const out = await runAs(
    who,
    process.execPath,
    ['-e', PUT_BACK_SCRIPT, staged, target],
    undefined,
    {
      signal,
    },
  )
  return JSON.parse(out) as PutBack
}
