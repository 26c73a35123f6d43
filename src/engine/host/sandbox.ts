import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { runAs } from './as-tenant.ts'
import type { RunAs } from './isolation.ts'

/** What a sandboxed path turned out to be (lstat, never following a symlink). */
export type SandboxStat = {
  type: 'file' | 'dir' | 'symlink' | 'other' | 'missing'
  size: number
  mode: number
  /** The filesystem (device) it lives on; 0 when missing. */
  dev: number
}

/**
 * Creates an empty sandbox `<work>/restore/<name>` (0700) as the tenant: a test restore writes
 * only there, inside the tenant's own 0700 work dir.
 */
export async function makeSandbox(who: RunAs, work: string, name: string): Promise<string> {
  if (!/^[a-z0-9-]{1,64}$/.test(name)) throw new Error(`Invalid sandbox name “${name}”.`)
  const dir = join(work, 'restore', name)
  await runAs(who, 'rm', ['-rf', '--', dir])
  await runAs(who, 'mkdir', ['-m', '0700', '--', dir])
  return dir
}

/** Removes every `verify-*` sandbox under `<work>/restore` (a crashed test restore's). */
export async function removeLeftoverSandboxes(who: RunAs, work: string): Promise<void> {
  const root = join(work, 'restore')
  const names = await readdir(root).catch(() => [] as string[])
  for (const name of names.filter((n) => /^verify-[a-z0-9-]+$/.test(n))) {
    await removeSandbox(who, join(root, name))
  }
}

/**
 * Removes the sandbox as the tenant, whatever restic restored into it: read-only folders are
 * made writable first (chmod -R does not follow symlinks it meets). Resolves when it is gone.
 */
export async function removeSandbox(who: RunAs, dir: string): Promise<void> {
  await runAs(who, 'chmod', ['-R', 'u+rwX', '--', dir]).catch(() => {})
  await runAs(who, 'rm', ['-rf', '--', dir])
  const gone = await runAs(who, 'test', ['-e', dir]).then(
    () => false,
    () => true,
  )
  if (!gone) throw new Error(`The sandbox ${dir} could not be removed.`)
}

/**
 * Gives the tenant search permission on every folder of the sandbox (only folders: file modes
 * stay as restored), so folders restored without it do not hide their files from comparison.
 */
export async function openFolders(who: RunAs, dir: string): Promise<void> {
  await runAs(who, 'find', [
    dir,
    '-type',
    'd',
    '!',
    '-perm',
    '-u=rx',
    '-exec',
    'chmod',
    'u+rx',
    '{}',
    '+',
  ])
}

// Runs as the tenant: the list of paths comes on stdin, one lstat each, JSON out.
const STAT_SCRIPT =
  "const fs=require('fs');const out=JSON.parse(fs.readFileSync(0,'utf8')).map((p)=>{try{const s=fs.lstatSync(p);" +
  "return{type:s.isFile()?'file':s.isDirectory()?'dir':s.isSymbolicLink()?'symlink':'other',size:s.size,mode:s.mode&0o7777,dev:s.dev}}" +
  "catch{return{type:'missing',size:0,mode:0,dev:0}}});process.stdout.write(JSON.stringify(out))"

/** lstat of each path, as the tenant (so the sandbox is read with the tenant's rights only). */
export async function statAs(who: RunAs, paths: string[]): Promise<SandboxStat[]> {
  if (!paths.length) return []
  const out = await runAs(who, process.execPath, ['-e', STAT_SCRIPT], JSON.stringify(paths))
  return JSON.parse(out) as SandboxStat[]
}
