import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { failure, measure, type Measured } from './measure.ts'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The panel CLI against a fresh data directory, as `panel <verb>` from the repository root. */
export type Panel = {
  dataDir: string
  /** Every command's environment (PANEL_DATA_DIR, PANEL_SECRET_KEY, …); add to it in place. */
  env: NodeJS.ProcessEnv
  /** Runs `node src/bin.js ...args`; resolves with the measurement whatever the exit status. */
  cli(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<Measured>
}

/**
 * Read from the panel database after a command: when its job was queued, started and finished
 * (epoch ms), and how long each stage took.
 */
export type RunTiming = {
  queuedAt: number
  startedAt: number
  finishedAt: number
  stages: { name: string; ms: number; status: string }[]
}

export function panelCli(root: string): Panel {
  const dataDir = join(root, 'panel-data')
  mkdirSync(dataDir, { mode: 0o711 })
  // The panel's scratch folders go inside ours, so a killed command leaves nothing in /tmp.
  const scratch = join(root, 'panel-tmp')
  mkdirSync(scratch, { mode: 0o711 })
  // Only our PANEL_* settings: a developer's PANEL_LOCAL_ROOT must not redirect the repository.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('PANEL_')),
  )
  Object.assign(env, {
    PANEL_DATA_DIR: dataDir,
    PANEL_SECRET_KEY: randomBytes(32).toString('hex'),
    TMPDIR: scratch,
  })
  return {
    dataDir,
    env,
    cli: (args, opts = {}) =>
      measure(process.execPath, ['src/bin.js', ...args], { env, cwd: REPO_ROOT, ...opts }),
  }
}

/**
 * Adds a throwaway system user for the tenant: as root the panel refuses to touch tenant files
 * as root. Remove it with `removeSystemUser`.
 */
export function addSystemUser(): string {
  const name = `bench-${randomBytes(4).toString('hex')}`
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name])
  return name
}

/** Hands `dir` and everything in it to `user`, as a tenant's home belongs to its user. */
export function chownTo(user: string, dir: string): void {
  const uid = execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()
  const gid = execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()
  execFileSync('chown', ['-R', '--no-dereference', `${uid}:${gid}`, '--', dir])
}

export function removeSystemUser(name: string): void {
  execFileSync('userdel', [name], { stdio: 'ignore' })
}

async function step(panel: Panel, args: string[], input?: string): Promise<void> {
  const m = await panel.cli(input ? [...args, '--password-stdin'] : args, {
    input,
    timeoutMs: 60_000,
  })
  if (m.code !== 0) throw new Error(failure(m, `panel ${args.slice(0, 2).join(' ')}`))
}

/** `tenant add bench`, untimed; its user is `systemUser` when running as root. */
export async function addTenant(panel: Panel, home: string, systemUser: string | null) {
  const user = systemUser ? ['--system-user', systemUser] : []
  await step(panel, ['tenant', 'add', 'bench', '--home', home, ...user], 'bench password 1\n')
}

/**
 * A Local destination `dest` (its own repository in `folder`) and a policy `policy` backing the
 * home up to it, untimed. One pair per round, so every round starts from an empty repository.
 */
export async function addPolicy(panel: Panel, dest: string, folder: string, policy: string) {
  await step(panel, [
    'destination',
    'add',
    'bench',
    '--type',
    'local',
    '--name',
    dest,
    '--set',
    `folder=${folder}`,
  ])
  await step(panel, [
    'policy',
    'add',
    'bench',
    '--name',
    policy,
    '--destination',
    dest,
    '--schedule',
    '0 3 * * *',
  ])
}

/** Timing of the newest run in the panel's database, or null when there is none. */
export function lastRunTiming(panel: Panel): RunTiming | null {
  const db = new Database(join(panel.dataDir, 'panel.db'), { readonly: true, fileMustExist: true })
  try {
    const run = db
      .prepare(
        `SELECT runs.id, runs.started_at AS s, runs.finished_at AS f, jobs.created_at AS q
         FROM runs LEFT JOIN jobs ON jobs.id = runs.job_id ORDER BY runs.id DESC LIMIT 1`,
      )
      .get() as { id: number; s: number | null; f: number | null; q: number | null } | undefined
    if (!run) return null
    const stages = db
      .prepare(
        'SELECT name, status, started_at AS s, finished_at AS f FROM run_stages WHERE run_id = ? ORDER BY id',
      )
      .all(run.id) as { name: string; status: string; s: number | null; f: number | null }[]
    const jobMs = (run.f ?? 0) - (run.s ?? 0)
    const timed = stages.map((st) => ({
      name: st.name,
      status: st.status,
      ms: (st.f ?? 0) - (st.s ?? 0),
    }))
    // Work outside any stage: preparing the dumps folder, the panel-settings file, bookkeeping.
    const unstaged = jobMs - timed.reduce((n, st) => n + st.ms, 0)
    return {
      queuedAt: run.q ?? run.s ?? 0,
      startedAt: run.s ?? 0,
      finishedAt: run.f ?? 0,
      stages: [...timed, { name: 'outside stages', status: '', ms: unstaged }],
    }
  } finally {
    db.close()
  }
}
