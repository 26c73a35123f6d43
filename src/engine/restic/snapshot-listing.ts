import { posix } from 'node:path'
import { randomInt } from 'node:crypto'
import { runRestic, type ResticEnv } from './restic.ts'
import { dumpOf } from '../../db/snapshots.ts'
import type { SandboxStat } from '../host/sandbox.ts'

/** A regular file as `restic ls --json` lists it. */
export type ListedFile = { path: string; size: number; mode: number }
export type ListedDump = { engine: 'mariadb' | 'postgresql'; name: string; path: string }

export type Listing = { files: number; bytes: number; sample: ListedFile[]; dumps: ListedDump[] }

/**
 * Streams `restic ls --json <snapshot>` once: counts regular files and their bytes, keeps a
 * uniform random sample of up to `sampleSize` of them (reservoir sampling, so memory stays
 * small for millions of files), and finds the database dumps the panel stored
 * (`<engine>-<name>.sql` directly in a `…/dumps` folder backed up as its own path).
 */
export async function listSnapshot(
  env: ResticEnv,
  snapshot: string,
  home: string,
  sampleSize = 200,
): Promise<Listing> {
  let roots: string[] = []
  const out: Listing = { files: 0, bytes: 0, sample: [], dumps: [] }
  await runRestic(['ls', '--json', snapshot], env, {
    onJson: (m) => {
      if (m?.struct_type === 'snapshot') roots = m.paths ?? []
      if (m?.struct_type !== 'node' || m.type !== 'file' || typeof m.path !== 'string') return
      const file = { path: m.path, size: Number(m.size ?? 0), mode: Number(m.mode ?? 0) }
      out.files++
      out.bytes += file.size
      if (out.sample.length < sampleSize) out.sample.push(file)
      else {
        const j = randomInt(out.files)
        if (j < sampleSize) out.sample[j] = file
      }
      const dump = dumpOf(m.path, roots)
      if (dump && posix.dirname(m.path) !== home) out.dumps.push({ ...dump, path: m.path })
    },
  })
  return out
}

/**
 * Compares sampled files with what the sandbox holds (`stats[i]` for `sample[i]`): each must be
 * a regular file with the listed size and permission bits. Returns the differences in words.
 */
export function compareSample(
  sample: ListedFile[],
  stats: SandboxStat[],
  strip: (p: string) => string,
): string[] {
  const bad: string[] = []
  sample.forEach((f, i) => {
    const s = stats[i]
    const name = strip(f.path)
    if (!s || s.type === 'missing') bad.push(`${name} is missing`)
    else if (s.type !== 'file') bad.push(`${name} is a ${s.type}, not a file`)
    else if (s.size !== f.size) bad.push(`${name} has ${s.size} bytes instead of ${f.size}`)
    else if ((s.mode & 0o777) !== (f.mode & 0o777)) {
      bad.push(
        `${name} has permissions ${(s.mode & 0o777).toString(8)} instead of ${(f.mode & 0o777).toString(8)}`,
      )
    }
  })
  return bad
}
