import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { rootAvailable } from '../support/tenants.ts'

const root = resolve(import.meta.dirname, '../..')
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0
if (!hasAnalyze) {
  if (process.env.CI === 'true')
    throw new Error('CI=true but systemd-analyze is missing: bash .ci/os-packages test')
  console.warn('\n*** SKIPPING systemd-analyze verify: install the Debian package systemd ***\n')
}

/** Runs the real `panel service install` into a temp prefix; returns the folder and output. */
function install(args: string[], dir = mkdtempSync(join(tmpdir(), 'panel-units-'))) {
  const res = spawnSync(
    'node',
    [
      'src/bin.js',
      'service',
      'install',
      '--prefix',
      join(dir, 'units'),
      '--settings-file',
      join(dir, 'etc/panel/env'),
      ...args,
    ],
    { cwd: root, encoding: 'utf8', env: { ...process.env, PANEL_DATA_DIR: join(dir, 'data') } },
  )
  return { dir, code: res.status, out: res.stdout, err: res.stderr }
}

const unit = (dir: string, name: string) => readFileSync(join(dir, 'units', name), 'utf8')
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)

/** systemd's own checker: exit 0 and not one warning (it only warns about unknown keys). */
function verify(dir: string) {
  const files = readdirSync(join(dir, 'units')).map((f) => join(dir, 'units', f))
  const res = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8' })
  return { code: res.status, err: res.stderr.trim() }
}

describe('panel service install', () => {
  it('writes panel.service running `panel serve` with its runner, and a 0600 env file', () => {
    const { dir, code, out, err } = install([])
    expect(err).toBe('')
    expect(code).toBe(0)
    expect(readdirSync(join(dir, 'units'))).toEqual(['panel.service'])
    const text = unit(dir, 'panel.service')
    for (const line of [
      `WorkingDirectory=${root}`,
      `ExecStart=${process.execPath} ${root}/src/bin.js serve`,
      `Environment=PANEL_DATA_DIR=${join(dir, 'data')}`,
      `EnvironmentFile=-${join(dir, 'etc/panel/env')}`,
      'Restart=on-failure',
      'RestartSec=5',
      'PrivateTmp=yes',
      'ProtectSystem=full',
      'ProtectKernelTunables=yes',
      'ProtectControlGroups=yes',
      'LockPersonality=yes',
      'WantedBy=multi-user.target',
    ])
      expect(text.split('\n')).toContain(line)
    // Root, able to act as each tenant: no User=, the capabilities to switch uid and reach homes.
    expect(text).not.toMatch(/^User=/m)
    expect(text).not.toContain('PANEL_RUNNER=0')
    expect(text).not.toMatch(/^ProtectHome=/m)
    expect(text).not.toMatch(/^RestrictSUIDSGID=yes/m)
    const caps = text.match(/^CapabilityBoundingSet=(.*)$/m)![1]!.split(' ')
    for (const cap of ['CAP_SETUID', 'CAP_SETGID', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER'])
      expect(caps).toContain(cap)
    expect(caps).not.toContain('CAP_SYS_ADMIN')
    expect(mode(join(dir, 'units/panel.service'))).toBe('644')

    const env = join(dir, 'etc/panel/env')
    expect(mode(env)).toBe('600')
    expect(statSync(env).uid).toBe(process.getuid!())
    const envText = readFileSync(env, 'utf8')
    for (const name of ['PORT', 'HOST', 'PANEL_BASE_URL', 'PANEL_TRUSTED_PROXIES', 'SMTP_HOST'])
      expect(envText).toMatch(new RegExp(`^#${name}=`, 'm'))
    expect(envText.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([])

    expect(out).toContain(`Wrote ${join(dir, 'units/panel.service')}`)
    expect(out).toContain('systemctl daemon-reload && systemctl enable --now panel\n')
    if (hasAnalyze) expect(verify(dir)).toEqual({ code: 0, err: '' })
  })

  it('keeps an existing env file and its settings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'panel-units-'))
    install([], dir)
    writeFileSync(join(dir, 'etc/panel/env'), 'PORT=8080\n')
    const again = install([], dir)
    expect(again.code).toBe(0)
    expect(again.out).toContain(`Kept ${join(dir, 'etc/panel/env')}`)
    expect(readFileSync(join(dir, 'etc/panel/env'), 'utf8')).toBe('PORT=8080\n')
  })

  it('--separate-runner: panel.service serves pages only, panel-runner.service runs the runner', () => {
    const { dir, code, out } = install(['--separate-runner'])
    expect(code).toBe(0)
    expect(readdirSync(join(dir, 'units')).sort()).toEqual([
      'panel-runner.service',
      'panel.service',
    ])
    expect(unit(dir, 'panel.service')).toMatch(/^Environment=PANEL_RUNNER=0$/m)
    const runner = unit(dir, 'panel-runner.service')
    expect(runner).toContain(`ExecStart=${process.execPath} ${root}/src/bin.js runner\n`)
    expect(runner).not.toContain('PANEL_RUNNER=0')
    expect(out).toContain('systemctl enable --now panel panel-runner\n')
    if (hasAnalyze) expect(verify(dir)).toEqual({ code: 0, err: '' })
  })

  it('--runner-only: only panel-runner.service, for a second host', () => {
    const { dir, code, out } = install(['--runner-only'])
    expect(code).toBe(0)
    expect(readdirSync(join(dir, 'units'))).toEqual(['panel-runner.service'])
    expect(unit(dir, 'panel-runner.service')).toMatch(/^CapabilityBoundingSet=.*CAP_SETUID/m)
    expect(out).toContain('systemctl enable --now panel-runner\n')
    if (hasAnalyze) expect(verify(dir)).toEqual({ code: 0, err: '' })
  })

  // systemd rightly warns about User=nobody, so a real system user, which needs root to create.
  const user = `pt-panel-${randomBytes(3).toString('hex')}`
  afterAll(() => spawnSync('userdel', [user]))

  it.runIf(rootAvailable())(
    '--user: the web part runs unprivileged, the runner apart as root',
    () => {
      execFileSync('useradd', [
        '--system',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        user,
      ])
      const { dir, code, out } = install(['--user', user])
      expect(code).toBe(0)
      const web = unit(dir, 'panel.service')
      expect(web).toMatch(new RegExp(`^User=${user}$`, 'm'))
      expect(web).toMatch(/^CapabilityBoundingSet=$/m)
      expect(web).toMatch(/^Environment=PANEL_RUNNER=0$/m)
      expect(unit(dir, 'panel-runner.service')).not.toMatch(/^User=/m)
      expect(out).toContain(`chown -R ${user}: ${join(dir, 'data')}`)
      if (hasAnalyze) expect(verify(dir)).toEqual({ code: 0, err: '' })
    },
  )

  it('refuses an unknown user and bad combinations; --dry-run writes nothing', () => {
    const missing = install(['--user', 'no-such-user-x'])
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/^panel: the user “no-such-user-x” does not exist: create it first/)
    expect(existsSync(join(missing.dir, 'units'))).toBe(false)
    expect(install(['--runner-only', '--separate-runner']).code).toBe(2)
    expect(install(['--user', 'root']).code).toBe(2)

    const dry = install(['--dry-run'])
    expect(dry.code).toBe(0)
    expect(dry.out).toContain(`# ${join(dry.dir, 'units/panel.service')}\n`)
    expect(dry.out).toContain('ExecStart=')
    expect(existsSync(join(dry.dir, 'units'))).toBe(false)
    expect(existsSync(join(dry.dir, 'etc'))).toBe(false)
  })
})
