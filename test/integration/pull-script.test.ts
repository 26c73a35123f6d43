import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PASSWORD, freshDeps } from '../helpers.ts'
import { servePanel, stopPanel, type Panel } from '../e2e/browser.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
  waitJob,
} from '../support/tenants.ts'
import { createApiKey } from '../../src/domain/api-keys.ts'
import { issueBackupToken } from '../../src/domain/backup-token.ts'
import { requestBackup, requestRestore } from '../../src/domain/jobs.ts'
import { catalogOf } from '../../src/db/snapshots.ts'
import { tenantUser } from '../../src/db/tenants.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'

/** The script exactly as the README shows it, so the two never drift apart. */
function readmeScript(): string {
  const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8')
  const block = readme.match(
    /<!-- pull-script:start -->\n```bash\n([\s\S]*?)```\n<!-- pull-script:end -->/,
  )
  if (!block) throw new Error('README.md has no pull-script block between its markers')
  return block[1]!
}

describe.runIf(rootAvailable())('the README’s curl script against a real `panel serve`', () => {
  const deps = freshDeps()
  const media = randomBytes(200_000)
  // Every temp dir this file makes, removed in afterAll.
  const temps: string[] = []
  const tempDir = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    temps.push(dir)
    return dir
  }
  let work = ''
  let outDir = ''
  let configFile = ''
  let script = ''
  let server: Panel
  let home = ''

  beforeAll(async () => {
    work = tempDir('pull-script-')
    outDir = join(work, 'backups')
    configFile = join(work, 'panel-pull.env')
    script = join(work, 'panel-pull')
    const erin = await realTenant(deps, 'erin', {
      'public_html/index.html': '<h1>erin</h1>\n',
      'media/clip.bin': media,
    })
    home = erin.home
    const dest = await localDestination(deps, erin.tenant.id)
    const policyId = await policy(deps, erin.tenant.id, [dest.id])
    const runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    try {
      const { job } = await requestBackup(deps.db, erin.tenant.id, policyId, 'manual')
      runner.wake()
      expect((await waitJob(deps, erin.tenant.id, job.id)).status).toBe('done')
    } finally {
      await runner.stop()
    }
    const { key } = await createApiKey(deps.db, erin.tenant.id, 'nas', { actor: 'erin' })
    const { token } = await issueBackupToken(
      deps,
      erin.tenant,
      (await tenantUser(deps.db, erin.tenant.id))!,
      { confirm: 'create', password: PASSWORD },
      { actor: 'erin' },
    )
    writeFileSync(
      configFile,
      `# pulled nightly\nPANEL_API_KEY=${key}\nPANEL_BACKUP_TOKEN=${token}\nKEEP=2\n`,
      { mode: 0o600 },
    )
    writeFileSync(script, readmeScript(), { mode: 0o700 })
    execFileSync('mkdir', ['-p', outDir])
    for (const day of ['01', '02', '03'])
      writeFileSync(join(outDir, `backup-2020-01-${day}T000000Z.tar`), 'old')
    server = await servePanel(deps, { PANEL_RUNNER: '0' })
  }, 120_000)
  afterAll(async () => {
    await stopPanel(server)
    removeUsers()
    for (const dir of temps) rmSync(dir, { recursive: true, force: true })
  })

  function pull(env: Record<string, string> = {}) {
    const res = spawnSync('bash', [script], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH!,
        HOME: work,
        PANEL_URL: server.url,
        PANEL_PULL_CONFIG: configFile,
        BACKUP_DIR: outDir,
        ...env,
      },
    })
    return { code: res.status, out: res.stdout, err: res.stderr }
  }

  it('downloads the latest backup as a dated .tar holding the files, keeping the last KEEP', () => {
    const res = pull()
    expect(res.err).toBe('')
    expect(res.code).toBe(0)
    expect(res.out).toMatch(/^panel-pull: saved .*\/backup-\d{4}-\d\d-\d\dT\d{6}Z\.tar \(/)
    const files = readdirSync(outDir).sort()
    expect(files).toHaveLength(2)
    expect(files[0]).toBe('backup-2020-01-03T000000Z.tar')
    expect(files[1]).toMatch(
      new RegExp(`^backup-${new Date().toISOString().slice(0, 4)}-\\d\\d-\\d\\dT\\d{6}Z\\.tar$`),
    )
    const dir = tempDir('pulled-')
    execFileSync('tar', ['-xf', join(outDir, files[1]!), '-C', dir])
    expect(readFileSync(join(dir, home, 'public_html/index.html'), 'utf8')).toBe('<h1>erin</h1>\n')
    expect(readFileSync(join(dir, home, 'media/clip.bin')).equals(media)).toBe(true)
  })

  it('fails non-zero with the panel’s message, leaving no partial file', () => {
    const before = readdirSync(outDir).sort()
    const res = pull({ PANEL_BACKUP_TOKEN: 'bt_' + 'x'.repeat(32) }) // the environment wins over the file
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/^panel-pull: HTTP 403: That backup token is not valid/)
    expect(readdirSync(outDir).sort()).toEqual(before)
    const badKey = pull({ PANEL_API_KEY: 'pk_' + 'y'.repeat(32) })
    expect(badKey.code).toBe(1)
    expect(badKey.err).toMatch(/^panel-pull: HTTP 401: That API key is not valid/)
  })

  it('refuses a settings file others can read, and says what is missing', () => {
    chmodSync(configFile, 0o644)
    const open = pull()
    chmodSync(configFile, 0o600)
    expect(open.code).toBe(1)
    expect(open.err).toContain('is readable by others; run: chmod 600')
    const missing = pull({ PANEL_PULL_CONFIG: join(work, 'none.env') })
    expect(missing.code).not.toBe(0)
    expect(missing.err).toContain('PANEL_API_KEY')
  })
  it('after a restore in place, still saves the full backup, not the safety snapshot', async () => {
    // The restore's safety snapshot (only the restored file) becomes the newest snapshot.
    const tenant = (await deps.db.query.tenants.findFirst())!
    const dest = (await deps.db.query.destinations.findFirst())!
    const [snap] = await catalogOf(deps.db, tenant.id, dest.id)
    const runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    try {
      const job = await requestRestore(deps.db, tenant.id, {
        destinationId: dest.id,
        snapshot: snap!.snapshotId,
        paths: [join(home, 'public_html/index.html')],
        mode: 'inplace',
      })
      runner.wake()
      expect((await waitJob(deps, tenant.id, job.id)).status).toBe('done')
    } finally {
      await runner.stop()
    }
    const newest = (await catalogOf(deps.db, tenant.id, dest.id))[0]!
    expect(newest.kind).toBe('safety')
    for (const f of readdirSync(outDir)) rmSync(join(outDir, f))
    const res = pull()
    expect(res.err).toBe('')
    expect(res.code).toBe(0)
    const [saved] = readdirSync(outDir)
    const dir = tempDir('pulled-again-')
    execFileSync('tar', ['-xf', join(outDir, saved!), '-C', dir])
    expect(readFileSync(join(dir, home, 'public_html/index.html'), 'utf8')).toBe('<h1>erin</h1>\n')
    expect(readFileSync(join(dir, home, 'media/clip.bin')).equals(media)).toBe(true)
  })
})
