import { randomBytes } from 'node:crypto'
import { Transform, pipeline, type Readable } from 'node:stream'
import type { TenantDatabase } from '../../db/schema.ts'
import { dbConnOf } from '../../db/tenants.ts'
import { countTables, dropDatabase, loadDump } from '../host/dumps.ts'
import type { RunAs } from '../host/isolation.ts'
import { runRestic, type ResticEnv } from '../restic/restic.ts'

/** A fresh name on the same server: `<db>_verify_<6 hex>`, within both engines' 63-64 limit. */
export function scratchName(db: string): string {
  return `${db.slice(0, 49)}_verify_${randomBytes(3).toString('hex')}`
}

export type ScratchLoad = { scratch: string; tables: number; declared: number }

/**
 * Streams a dump out of a snapshot (`restic dump`) into a newly created scratch database
 * reached with the tenant database's own credentials, counts the tables the dump declares
 * (`CREATE TABLE` lines) and the tables that loaded, then drops the scratch database whatever
 * happened, if this load created it (a taken name or a refused CREATE is not ours to drop).
 */
export async function loadIntoScratch(opts: {
  secretKey: Buffer
  row: TenantDatabase
  env: ResticEnv
  snapshot: string
  dumpPath: string
  work: string
  who: RunAs
  signal?: AbortSignal
}): Promise<ScratchLoad> {
  const scratch = scratchName(opts.row.name)
  const conn = dbConnOf(opts.secretKey, opts.row, scratch)
  // Cleanup runs even after a cancel, so it gets no signal.
  const tools = { workDir: opts.work, runAs: opts.who }
  // Dropped afterwards only if this load created it (a name taken or a refused CREATE is not ours).
  let created = false
  let failure: string | null = null
  let result: ScratchLoad | null = null
  try {
    let declared = 0
    let loading: Promise<void> = Promise.resolve()
    const dumping = runRestic(['dump', opts.snapshot, opts.dumpPath], opts.env, {
      stdout: (out: Readable) => {
        // pipeline() destroys restic's stdout if the load gives up early, so restic cannot block.
        const counted = pipeline(
          out,
          tableCounter((n) => (declared += n)),
          () => {},
        )
        loading = loadDump(conn, counted, {
          ...tools,
          signal: opts.signal,
          create: true,
          onCreated: () => void (created = true),
        })
      },
    })
    // Both sides settle; the loader's reason wins, as restic then only reports a broken pipe.
    const [dumped, loaded] = await Promise.allSettled([
      dumping,
      Promise.resolve().then(() => loading),
    ])
    if (loaded.status === 'rejected') throw loaded.reason
    if (dumped.status === 'rejected') throw dumped.reason
    const tables = await countTables(conn, { ...tools, signal: opts.signal })
    result = { scratch, tables, declared }
  } catch (err) {
    failure = scratchProblem(opts.row, err)
  }
  if (created) {
    await dropDatabase(conn, tools).catch((err: Error) => {
      const left = `${opts.row.name}: the scratch database ${scratch} could not be dropped (${err.message}); drop it by hand.`
      failure = failure ? `${failure} ${left}` : left
    })
  }
  if (failure || !result) throw new Error(failure ?? `${opts.row.name}: nothing was loaded.`)
  return result
}

function scratchProblem(row: TenantDatabase, err: unknown): string {
  const why = err instanceof Error ? err.message.split('\n')[0]! : String(err)
  if (/denied|permission|not allowed|must be owner|createdb/i.test(why) && /create/i.test(why)) {
    return `${row.name}: could not create a scratch database to load the dump into (${why}). The database user needs the right to create databases named ${row.name}_verify_*.`
  }
  return `${row.name}: the dump did not load into a scratch database: ${why}`
}

const CREATE_TABLE = /^CREATE (UNLOGGED )?TABLE /
const PREFIX = 32

/**
 * Passes bytes through, counting lines that start with `CREATE TABLE` (MariaDB and pg_dump
 * write one per table; view stand-ins are inside comments). Looks only at each line's first
 * bytes, so multi-megabyte INSERT lines cost one indexOf.
 */
function tableCounter(onCount: (n: number) => void): Transform {
  let prefix = ''
  let collecting = true
  const check = () => {
    if (CREATE_TABLE.test(prefix)) onCount(1)
    collecting = false
  }
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      let pos = 0
      while (pos < chunk.length) {
        const nl = chunk.indexOf(10, pos)
        const end = nl === -1 ? chunk.length : nl
        if (collecting) {
          prefix += chunk.toString('latin1', pos, Math.min(end, pos + PREFIX - prefix.length))
          if (prefix.length >= PREFIX || nl !== -1) check()
        }
        if (nl === -1) break
        pos = nl + 1
        prefix = ''
        collecting = true
      }
      done(null, chunk)
    },
    flush(done) {
      if (collecting && prefix) check()
      done()
    },
  })
}
