import { safeZone, snapshotWhen } from '../../zoned.ts'
import type { Destination, Tenant } from '../../db/schema.ts'
import { finishStage, logRun, type StageStatus } from '../../db/runs.ts'
import { SAFETY_TAG, recordSnapshot } from '../../db/snapshots.ts'
import { runAs } from '../host/as-tenant.ts'
import type { OpenRepo } from '../restic/repository.ts'
import type { EngineDeps } from '../deps.ts'
import type { RunAs } from '../host/isolation.ts'
import { EXIT_PARTIAL, resticJson, runRestic } from '../restic/restic.ts'
import type { Snapshot } from '../restic/snapshots.ts'

/** One restore run in progress: what every step of it needs. */
export type RestoreCtx = {
  deps: EngineDeps
  tenant: Tenant
  dest: Destination
  runId: number
  snap: Snapshot
  repo: OpenRepo
  work: string
  who: RunAs
  signal: AbortSignal
  /** Starts a stage; a failure is recorded on the stage started last. */
  start(name: string): Promise<void>
  finish(status: StageStatus, fields?: Parameters<typeof finishStage>[3]): Promise<void>
  /** Where the safety copy is, in the tenant's words, once one was taken. */
  safety: string | null
}

/**
 * Backs up what a restore in place is about to overwrite as a safety snapshot (tags `safety`,
 * `run:<id>` and `extraTags`), records it in the catalog (never complete, so never `latest`),
 * and says where the tenant finds it, in the stage, the run log and `ctx.safety`.
 * `args` name what to back up (`-- <paths>` or `--files-from-raw <list>`).
 */
export async function takeSafetySnapshot(
  ctx: RestoreCtx,
  o: { args: string[]; extraTags: string[]; label: string; what: string; allowPartial: boolean },
): Promise<void> {
  const tags = [SAFETY_TAG, `run:${ctx.runId}`, ...o.extraTags]
  let summary: Record<string, any> | null = null
  let unreadable = 0
  const { code } = await runRestic(
    [
      'backup',
      '--json',
      '--host',
      ctx.tenant.name,
      ...tags.flatMap((t) => ['--tag', t]),
      ...o.args,
    ],
    ctx.repo.env,
    {
      okCodes: o.allowPartial ? [0, EXIT_PARTIAL] : [0],
      onJson: (m) => {
        if (m.message_type === 'summary') summary = m
        if (m.message_type === 'error') unreadable++
      },
    },
  )
  const s = summary as Record<string, any> | null
  // restic 0.14 prints the short id here; `restic snapshots` gives the full one.
  const id = s?.snapshot_id ? String(s.snapshot_id) : null
  if (!id) throw new Error('restic made no safety snapshot (it printed no snapshot id).')
  // restic's own record: the exact time and paths, as `restic snapshots` will list them later.
  const [listed] = await resticJson<any>(['snapshots', id], ctx.repo.env)
  if (!listed) throw new Error(`The safety snapshot ${id.slice(0, 8)} is not in the repository.`)
  await recordSnapshot(ctx.deps.db, ctx.tenant.id, ctx.dest.id, {
    id: String(listed.id),
    time: String(listed.time),
    tags: listed.tags ?? tags,
    paths: listed.paths ?? [],
    complete: false,
    bytes: s?.total_bytes_processed ?? null,
    files: s?.total_files_processed ?? null,
    runId: ctx.runId,
  })
  const when = tenantTime(new Date(String(listed.time)), ctx.tenant.timezone)
  const missing =
    code === EXIT_PARTIAL
      ? ` (${unreadable || 'Some'} file(s) could not be read and are not in it.)`
      : ''
  ctx.safety = `${o.what}: Restore > Safety copies, “${o.label}” on ${when}.${missing}`
  await ctx.finish(code === EXIT_PARTIAL ? 'partial' : 'success', {
    snapshotId: String(listed.id),
    message: ctx.safety,
    details: { label: o.label },
  })
  await logRun(ctx.deps.db, ctx.runId, 'info', ctx.safety)
}

/** "Tue 3 Dec 2026, 09:30 (Europe/Berlin)": in the tenant's zone (UTC if it is unknown). */
export function tenantTime(at: Date, timeZone: string): string {
  return `${snapshotWhen(at, timeZone)} (${safeZone(timeZone)})`
}

// Runs as the tenant. stdin: the paths asked for (JSON); argv[1]: the list file to create. A
// name shown with U+FFFD (restic's JSON for bytes that are not UTF-8, one per byte, as Go does)
// is matched against the folder's raw names decoded the same way. Writes every existing match
// NUL-separated (restic --files-from-raw) and prints how many.
const EXISTING_SCRIPT = `
const fs = require('fs')
const want = JSON.parse(fs.readFileSync(0, 'utf8'))
const lossy = (b) => {
  let s = ''
  for (let i = 0; i < b.length; ) {
    const c = b[i]
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0
    const seq = b.subarray(i, i + n)
    if (n && seq.length === n && Buffer.from(seq.toString('utf8')).equals(seq)) {
      s += seq.toString('utf8')
      i += n
    } else {
      s += '\\uFFFD'
      i++
    }
  }
  return s
}
const found = []
for (const path of want) {
  let at = [Buffer.from('/')]
  for (const part of path.split('/').filter(Boolean)) {
    const next = []
    for (const dir of at) {
      const base = dir.length === 1 ? dir : Buffer.concat([dir, Buffer.from('/')])
      if (!part.includes('\\uFFFD')) {
        const p = Buffer.concat([base, Buffer.from(part)])
        try { fs.lstatSync(p); next.push(p) } catch {}
        continue
      }
      let names = []
      try { names = fs.readdirSync(dir, { encoding: 'buffer' }) } catch {}
      for (const name of names) if (lossy(name) === part) next.push(Buffer.concat([base, name]))
    }
    at = next
  }
  found.push(...at)
}
const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW
const fd = fs.openSync(process.argv[1], flags, 0o600)
for (const p of found) fs.writeSync(fd, Buffer.concat([p, Buffer.from([0])]))
fs.closeSync(fd)
process.stdout.write(String(found.length))
`

/**
 * Which of `paths` exist now, looked up as the tenant (names that are not UTF-8 included):
 * writes them to `listFile` for `restic backup --files-from-raw` and returns how many.
 */
export async function listExisting(who: RunAs, paths: string[], listFile: string): Promise<number> {
  const out = await runAs(
    who,
    process.execPath,
    ['-e', EXISTING_SCRIPT, listFile],
    JSON.stringify(paths),
  )
  return Number(out.trim())
}
