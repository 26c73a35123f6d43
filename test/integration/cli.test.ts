import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dataDir = mkdtempSync(join(tmpdir(), 'panel-cli-'))

/** Runs the real `panel` command (as `npx panel` would) against a fresh data directory. */
function panel(args: string[], input?: string, command = 'node') {
  const argv = command === 'node' ? ['src/bin.js', ...args] : ['panel', ...args]
  const res = spawnSync(command, argv, {
    input,
    encoding: 'utf8',
    env: { ...process.env, PANEL_DATA_DIR: dataDir, npm_config_yes: 'false' },
  })
  return { code: res.status, out: res.stdout, err: res.stderr.replace(/npm warn.*\n/g, '') }
}

describe('panel CLI', () => {
  it('creates an admin from stdin, refusing a short password', () => {
    expect(
      panel(['admin', 'create', 'boss', '--password-stdin'], 'a good admin password\n'),
    ).toMatchObject({ code: 0 })
    const short = panel(['admin', 'create', 'boss2', '--password-stdin'], 'short\n')
    expect(short.code).toBe(1)
    expect(short.err.trim().split('\n')).toEqual(['panel: password: Use at least 10 characters.'])
  })

  it('adds and lists tenants as JSON', () => {
    const add = panel(
      [
        'tenant',
        'add',
        'alice',
        '--home',
        '/home/alice',
        '--timezone',
        'Europe/Berlin',
        '--password-stdin',
      ],
      'alice password 1\n',
    )
    expect(add).toMatchObject({ code: 0 })
    expect(panel(['db', 'assign', 'alice', 'alice_wp', '--engine', 'mariadb']).code).toBe(0)
    const list = panel(['tenant', 'list', '--json'])
    expect(list.code).toBe(0)
    expect(JSON.parse(list.out)).toEqual([
      expect.objectContaining({
        name: 'alice',
        home: '/home/alice',
        timezone: 'Europe/Berlin',
        databases: ['mariadb:alice_wp'],
      }),
    ])
  })

  it('rejects a bad tenant name and a missing option with one line and a non-zero exit', () => {
    const bad = panel(
      ['tenant', 'add', '../evil', '--home', '/home/x', '--password-stdin'],
      'long enough pw\n',
    )
    expect(bad.code).toBe(1)
    expect(bad.err.trim().split('\n')).toHaveLength(1)
    expect(bad.err).toMatch(/^panel: name: Use 2-32 characters/)
    const missing = panel(['tenant', 'add', 'bob', '--password-stdin'], 'long enough pw\n')
    expect(missing.code).toBe(2)
    expect(missing.err).toMatch(/^panel: --home <dir> is required/)
    expect(panel(['tenant', 'frobnicate']).code).toBe(2)
  })

  it('prints a verb’s usage for --help and -h, and exits 0', () => {
    const add = panel(['tenant', 'add', '--help'])
    expect(add).toMatchObject({ code: 0, err: '' })
    expect(add.out.trim()).toMatch(/^Usage: panel tenant add <name> --home <dir> .*--node <node>/)
    expect(panel(['restore', '-h']).out).toMatch(/^Usage: panel restore <tenant> <snapshot> /)
    expect(panel(['runner', '--help'])).toMatchObject({
      code: 0,
      out: 'Usage: panel runner [--node <node>]\n',
    })
  })

  it('adds and lists destinations', () => {
    expect(
      panel([
        'destination',
        'add',
        'alice',
        '--type',
        'local',
        '--name',
        'Here',
        '--set',
        'folder=nightly',
      ]).code,
    ).toBe(0)
    const list = JSON.parse(panel(['destination', 'list', 'alice', '--json']).out)
    expect(list).toEqual([
      expect.objectContaining({ name: 'Here', type: 'local', settings: { folder: 'nightly' } }),
    ])
    const bad = panel([
      'destination',
      'add',
      'alice',
      '--type',
      'local',
      '--name',
      'Bad',
      '--set',
      'folder=../../etc',
    ])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/^panel: folder: /)
    expect(panel(['destination', 'add', 'alice', '--type', 'ftp', '--name', 'X']).err).toMatch(
      /unknown type "ftp"/,
    )
    expect(panel(['destination', 'list', 'nobody', '--json']).err).toMatch(
      /Tenant “nobody” does not exist/,
    )
  })

  it('adds and lists policies', () => {
    const add = panel([
      'policy',
      'add',
      'alice',
      '--name',
      'Nightly',
      '--destination',
      'Here',
      '--schedule',
      '15 2 * * *',
      '--include',
      'public_html/**',
      '--exclude',
      '*.log',
      '--exclude',
      '**/cache/**',
      '--database',
      'alice_wp',
      '--keep-daily',
      '10',
      '--keep-weekly',
      '5',
      '--keep-monthly',
      '6',
    ])
    expect(add).toMatchObject({ code: 0 })
    const [p] = JSON.parse(panel(['policy', 'list', 'alice', '--json']).out)
    expect(p).toMatchObject({
      name: 'Nightly',
      schedule: '15 2 * * *',
      description: 'Daily at 02:15',
      timezone: 'Europe/Berlin',
      destinations: ['Here'],
      databases: ['alice_wp'],
      include: ['public_html/**'],
      exclude: ['*.log', '**/cache/**'],
      retention: { daily: 10, weekly: 5, monthly: 6 },
    })
    expect(new Date(p.nextRun).getTime()).toBeGreaterThan(Date.now())
    const bad = panel([
      'policy',
      'add',
      'alice',
      '--name',
      'Bad',
      '--destination',
      'Here',
      '--schedule',
      '* * *',
    ])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/^panel: cron: Use five fields/)
    expect(
      panel([
        'policy',
        'add',
        'alice',
        '--name',
        'X',
        '--destination',
        'Nope',
        '--schedule',
        '0 * * * *',
      ]).err,
    ).toMatch(/No destination named “Nope”/)
  })

  it('will not start on a bad setting or a database it cannot reach: one line, exit 1', () => {
    const start = (verb: string[], env: Record<string, string>) => {
      const res = spawnSync('node', ['src/bin.js', ...verb], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, PANEL_DATA_DIR: dataDir, PORT: '0', ...env },
      })
      return { code: res.status, err: res.stderr.trim().split('\n') }
    }
    expect(start(['serve'], { PANEL_DATABASE_URL: 'mysql://db.example/panel' })).toEqual({
      code: 1,
      err: [
        'panel: could not start: PANEL_DATABASE_URL: give a postgres://user:password@host:5432/database URL.',
      ],
    })
    const gone = { PANEL_DATABASE_URL: 'postgres://panel:secret@127.0.0.1:1/panel' }
    expect(start(['runner', '--node', 'web1'], gone)).toEqual({
      code: 1,
      err: ['panel: could not start: connect ECONNREFUSED 127.0.0.1:1'],
    })
    expect(start(['runner', '--node', 'Web 1'], {}).code).toBe(2)
  })

  it('works as `npx panel` from the project root', () => {
    const res = panel(['tenant', 'list', '--json'], undefined, 'npx')
    expect(res.code).toBe(0)
    expect(JSON.parse(res.out)[0].name).toBe('alice')
  })

  it('removes a tenant only with --yes, saying its stored backups stay', () => {
    const unconfirmed = panel(['tenant', 'remove', 'alice'])
    expect(unconfirmed.code).not.toBe(0)
    expect(unconfirmed.err).toMatch(/add --yes to confirm/)
    const removed = panel(['tenant', 'remove', 'alice', '--yes'])
    expect(removed).toMatchObject({ code: 0 })
    expect(removed.out).toContain('Its home, system user and stored backups were left in place.')
    expect(removed.out).toContain('backups kept on local destination "Here"')
    expect(JSON.parse(panel(['tenant', 'list', '--json']).out)).toEqual([])
  })
})
