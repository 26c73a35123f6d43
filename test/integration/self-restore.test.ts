import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { openDb } from '../../src/db/client.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { insertProviderDestination } from '../../src/db/provider-destinations.ts'
import { findTenantByName } from '../../src/db/tenants.ts'
import { findDestinationByName } from '../../src/db/destinations.ts'
import { lastSelfBackup, saveSelfBackupSettings } from '../../src/db/self-backup.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { dailySelfBackup } from '../../src/runner/self-backup.ts'
import type { Deps } from '../../src/web/context.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { restoreAndCompare } from '../support/restore.ts'
import { until } from '../support/storage.ts'
import { form as s3Form } from '../support/s3.ts'
import { requireS3rver, startS3rver, type S3rverServer } from '../services/s3rver.ts'

const FILES = {
  'public_html/index.html': '<h1>alice</h1>\n',
  'notes/today.txt': `written ${randomBytes(8).toString('hex')}\n`,
}
const LOCAL = 'Host storage'
const S3 = 'Host S3'

/** The data folder and the local backup root (outside it), as an admin would set them. */
const parent = mkdtempSync(join(tmpdir(), 'panel-drill-'))
chmodSync(parent, 0o711) // tenants' restic reaches its own work folder inside the data folder
const dataDir = join(parent, 'data')
const localRoot = mkdtempSync(join(tmpdir(), 'panel-drill-root-'))
const env = { PANEL_DATA_DIR: dataDir, PANEL_LOCAL_ROOT: localRoot }

function panelEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...env,
    PANEL_OUTBOUND_ALLOW: '127.0.0.1',
    ...extra,
  }
  delete childEnv.PANEL_SECRET_KEY
  return childEnv
}

/** Runs the real `panel` command against the drill's data folder (the key in secret.key). */
function panel(args: string[], input?: string, extra: Record<string, string> = {}) {
  const res = spawnSync('node', ['src/bin.js', ...args], {
    input,
    encoding: 'utf8',
    env: panelEnv(extra),
  })
  return { code: res.status, out: res.stdout, err: res.stderr }
}

/** A panel process's view of the data folder: what `panel serve` would open. */
function open(): Deps {
  const config = loadConfig(env)
  return { db: openDb(config.dbPath), config, drivers }
}

/** Stock restic straight on the Local provider destination's panel repository. */
function stockRestic(args: string[]): string {
  const res = spawnSync('restic', ['-r', join(localRoot, '_panel', 'panel'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, RESTIC_PASSWORD: password, RESTIC_CACHE_DIR: join(tmpdir(), 'rc') },
  })
  expect(res.status, res.stderr).toBe(0)
  return res.stdout
}

let password = ''

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

describe.runIf(rootAvailable())('the panel backup drill (real restic)', () => {
  const withS3 = requireS3rver()
  let s3: S3rverServer | null = null
  let deps: Deps

  /** Adds the provider destinations, as the admin does on a fresh install before restoring. */
  async function addProviderDestinations(d: Deps) {
    await insertProviderDestination(d.db, d.config.secretKey, {
      type: 'local',
      name: LOCAL,
      settings: { folder: 'panel' },
      secrets: {},
    })
    if (!s3) return
    const { settings, secrets } = s3Form({
      bucket: 'panel',
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    })
    await insertProviderDestination(d.db, d.config.secretKey, {
      type: 's3',
      name: S3,
      settings,
      secrets: secrets as Record<string, string>,
    })
  }

  /** Deletes the data folder (the disaster), then starts fresh: a new panel.db and key. */
  async function freshInstall() {
    rmSync(dataDir, { recursive: true, force: true })
    const fresh = open()
    await addProviderDestinations(fresh)
    fresh.db.$client.close()
  }

  beforeAll(async () => {
    if (withS3) s3 = await startS3rver({ buckets: ['panel'] })
    deps = open()
    const alice = await realTenant(deps, 'alice', FILES)
    const dest = await localDestination(deps, alice.tenant.id, 'repo', 'On this server')
    const policyId = await policy(deps, alice.tenant.id, [dest.id])
    const runner = startRunner({ db: deps.db, handlers: jobHandlers(deps), pollMs: 100 })
    try {
      const { job } = await requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
      runner.wake()
      const done = await waitJob(deps, alice.tenant.id, job.id, 120_000)
      expect(done.status, done.lastError ?? '').toBe('done')
    } finally {
      await runner.stop()
    }
    await addProviderDestinations(deps)
  }, 180_000)

  afterAll(async () => {
    removeUsers()
    await s3?.stop()
  })

  it('refuses a Local provider destination inside the data folder', async () => {
    const inside = mkdtempSync(join(tmpdir(), 'panel-inside-'))
    const config = loadConfig({ PANEL_DATA_DIR: inside })
    const db = openDb(config.dbPath)
    await insertProviderDestination(db, config.secretKey, {
      type: 'local',
      name: 'Here',
      settings: { folder: 'panel' },
      secrets: {},
    })
    db.$client.close()
    const res = panel(['self-backup', '--destination', 'Here'], undefined, {
      PANEL_DATA_DIR: inside,
      PANEL_LOCAL_ROOT: '',
    })
    expect(res.code).toBe(1)
    expect(res.err.trim().split('\n')).toHaveLength(1)
    expect(res.err).toMatch(/^panel: “Here” keeps its files in .*inside the panel’s data folder/)
    expect(existsSync(join(inside, 'repos', '_panel'))).toBe(false)
  })

  it('backs the panel up with the CLI, showing the new password once', () => {
    const first = panel(['self-backup', '--destination', LOCAL])
    expect(first.code, first.err).toBe(0)
    expect(first.out).toContain(`Panel backup saved to “${LOCAL}”`)
    expect(first.out).toContain('Write this down: without it the panel backup cannot be restored')
    password = first.out.match(/^ {4}(\S+)$/m)![1]!
    expect(panel(['self-backup', '--show-password']).out.trim()).toBe(password)

    const again = panel(['self-backup', '--destination', LOCAL, '--json'])
    expect(again.code, again.err).toBe(0)
    const result = JSON.parse(again.out)
    expect(result).toMatchObject({ destination: LOCAL, password: null, secretKey: 'file' })
    expect(result.snapshot).toMatch(/^[0-9a-f]{64}$/)
    // No staged copy is left behind, and the repository is stock restic's, under _panel.
    expect(existsSync(join(dataDir, 'work', '_panel-self-backup'))).toBe(false)
    const snapshots = JSON.parse(stockRestic(['snapshots', '--json']))
    // Retention ran after the second backup: of one day's backups it keeps the newest.
    expect(snapshots.map((s: { id: string }) => s.id)).toEqual([result.snapshot])
    if (s3) {
      const remote = panel(['self-backup', '--destination', S3, '--json'])
      expect(remote.code, remote.err).toBe(0)
      expect(JSON.parse(remote.out)).toMatchObject({ destination: S3, password: null })
    }
  }, 120_000)

  it('removes its staged copies when killed, and a killed run’s leftovers at the next run', async () => {
    const stage = join(dataDir, 'work', '_panel-self-backup')
    const child = spawn('node', ['src/bin.js', 'self-backup', '--destination', LOCAL], {
      env: panelEnv(),
      stdio: 'ignore',
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    await until(() => existsSync(join(stage, 'panel', 'panel-settings.json')), 60_000, 'staging')
    child.kill('SIGTERM')
    await exited
    expect(existsSync(stage)).toBe(false)
    // SIGKILL leaves no chance to clean up: the next run clears what is left.
    mkdirSync(join(stage, 'panel'), { recursive: true })
    writeFileSync(join(stage, 'panel', 'left-over'), 'x')
    const next = panel(['self-backup', '--destination', LOCAL])
    expect(next.code, next.err).toBe(0)
    expect(existsSync(stage)).toBe(false)
    const files = stockRestic(['ls', 'latest'])
    expect(files).toMatch(/\/panel\/panel\.db$/m)
    expect(files).not.toContain('left-over')
  }, 120_000)

  it('runs the daily backup from one scheduler only, once per day', async () => {
    const dest = deps.db.$client.prepare('SELECT id FROM provider_destinations WHERE name = ?')
    const { id } = dest.get(LOCAL) as { id: number }
    await saveSelfBackupSettings(deps.db, { destinationId: id, time: '00:00', enabled: true })
    const tomorrow = new Date(Date.now() + 86_400_000)
    const errors: unknown[] = []
    const a = dailySelfBackup(deps, (e) => errors.push(e))
    const b = dailySelfBackup(open(), (e) => errors.push(e))
    // Two runner processes tick at once: one of them runs the day's backup.
    expect([await a.tick(tomorrow), await b.tick(tomorrow)].sort()).toEqual([false, true])
    await Promise.all([a.settled(), b.settled()])
    expect(errors).toEqual([])
    const last = (await lastSelfBackup(deps.db))!
    expect(last, last.error).toMatchObject({ ok: true, trigger: 'schedule', destination: LOCAL })
    // The same day again: nothing runs.
    expect(await a.tick(tomorrow)).toBe(false)
    expect(await b.tick(new Date(tomorrow.getTime() + 60_000))).toBe(false)
    await saveSelfBackupSettings(deps.db, { destinationId: id, time: '00:00', enabled: false })
    expect(JSON.parse(stockRestic(['snapshots', '--json']))).toHaveLength(1)
  }, 120_000)

  it('after the data folder is lost, a wrong password fails plainly and changes nothing', async () => {
    deps.db.$client.close()
    await freshInstall()
    const before = sha(join(dataDir, 'panel.db'))
    const res = panel(['self-restore', '--destination', LOCAL], 'not the password\n')
    expect(res.code).toBe(1)
    expect(res.err.trim().split('\n')).toEqual([
      'panel: The repository password is wrong: restic could not open the repository.',
    ])
    expect(sha(join(dataDir, 'panel.db'))).toBe(before)
    expect(existsSync(join(dataDir, 'panel.db.before-self-restore'))).toBe(false)
    expect(existsSync(join(dataDir, 'work', '_panel-self-restore'))).toBe(false)
  }, 60_000)

  it('self-restore rebuilds the data folder: the tenant’s snapshots list and a file restores', async () => {
    const res = panel(['self-restore', '--destination', LOCAL], `${password}\n`)
    expect(res.code, res.err).toBe(0)
    expect(res.out).toContain(`from “${LOCAL}”`)
    expect(res.out).toContain('Next step: start the panel')
    expect(existsSync(join(dataDir, 'panel.db.before-self-restore'))).toBe(true)
    const restored = open()
    const runner: Runner = startRunner({
      db: restored.db,
      handlers: jobHandlers(restored),
      pollMs: 100,
    })
    try {
      const alice = (await findTenantByName(restored.db, 'alice'))!
      const dest = (await findDestinationByName(restored.db, alice.id, 'On this server'))!
      const snapshots = await listSnapshots(restored, alice, dest)
      expect(snapshots.length).toBeGreaterThanOrEqual(1)
      await restoreAndCompare(restored, runner, alice, dest, FILES)
    } finally {
      await runner.stop()
      restored.db.$client.close()
    }
  }, 180_000)

  it.runIf(withS3)(
    'restores from S3 too, with the password from a file',
    async () => {
      await freshInstall()
      const file = join(mkdtempSync(join(tmpdir(), 'panel-pw-')), 'pw')
      writeFileSync(file, `${password}\n`, { mode: 0o600 })
      const res = panel(['self-restore', '--destination', S3, '--password-file', file])
      expect(res.code, res.err).toBe(0)
      const restored = open()
      expect(await findTenantByName(restored.db, 'alice')).toBeTruthy()
      restored.db.$client.close()
    },
    120_000,
  )
})
