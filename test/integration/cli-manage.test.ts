import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { openDb } from '../../src/db/client.ts'
import { findDestinationByName, readSecrets } from '../../src/db/destinations.ts'
import {
  findProviderDestinationByName,
  readProviderSecrets,
} from '../../src/db/provider-destinations.ts'
import { findTenantByName } from '../../src/db/tenants.ts'
import { auditLog } from '../../src/db/schema.ts'
import { requireSshd, startSshd, type SshServer } from '../services/sshd.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'panel-cli-manage-'))
const config = loadConfig({ PANEL_DATA_DIR: dataDir })
const db = openDb(config.dbPath)

/** The real `panel` command against this file's data directory; loopback storage allowed. */
function panel(args: string[], input?: string) {
  const res = spawnSync('node', ['src/bin.js', ...args], {
    input,
    encoding: 'utf8',
    env: { ...process.env, PANEL_DATA_DIR: dataDir, PANEL_OUTBOUND_ALLOW: '127.0.0.1' },
  })
  return { code: res.status, out: res.stdout, err: res.stderr }
}

const lines = (text: string) => text.trim().split('\n').filter(Boolean)
const tenantId = async (name: string) => (await findTenantByName(db, name))!.id
const secretsOf = async (tenant: string, dest: string) =>
  readSecrets(
    config.secretKey,
    await tenantId(tenant),
    (await findDestinationByName(db, await tenantId(tenant), dest))!,
  )
const actions = async () => (await db.select().from(auditLog)).filter((e) => e.actor === 'cli')

beforeAll(() => {
  for (const name of ['alice', 'bob']) {
    const home = mkdtempSync(join(tmpdir(), `cli-manage-${name}-`))
    const res = panel(
      ['tenant', 'add', name, '--home', home, '--password-stdin'],
      `${name} password 1\n`,
    )
    expect(res.code, res.err).toBe(0)
  }
}, 120_000)

// Each run of `panel` starts node with tsx (1-3 s on a busy machine): generous limits.
const slow = { timeout: 240_000 }

describe('panel destination edit|remove and policy edit|remove', slow, () => {
  const s3 = ['--type', 's3', '--set', 'bucket=bucket-one', '--set', 'accessKeyId=AKIAEXAMPLE']

  it('stores a secret from stdin and never prints it; a secret on argv is warned about', async () => {
    const add = panel(
      [
        'destination',
        'add',
        'alice',
        '--name',
        'Offsite',
        ...s3,
        '--set-secret-stdin',
        'secretAccessKey',
      ],
      'stdin-secret-value-1\n',
    )
    expect(add.code, add.err).toBe(0)
    expect(add.err).toBe('')
    expect(await secretsOf('alice', 'Offsite')).toEqual({ secretAccessKey: 'stdin-secret-value-1' })
    for (const args of [[], ['--json']]) {
      const list = panel(['destination', 'list', 'alice', ...args])
      expect(list.code).toBe(0)
      expect(list.out).toContain('Offsite')
      expect(list.out).not.toContain('stdin-secret-value-1')
    }
    const [row] = JSON.parse(panel(['destination', 'list', 'alice', '--json']).out)
    expect(row.settings).toMatchObject({ bucket: 'bucket-one', secretAccessKey: true })

    const argv = panel([
      'destination',
      'add',
      'alice',
      '--name',
      'Argv',
      ...s3,
      '--set',
      'secretAccessKey=argv-secret-value',
    ])
    expect(argv.code).toBe(0)
    expect(lines(argv.err)).toEqual([
      expect.stringMatching(
        /^panel: warning: secretAccessKey given with --set can be read by other users \(ps.*--set-secret-stdin secretAccessKey/,
      ),
    ])
    expect(argv.err).not.toContain('argv-secret-value')
    expect(await secretsOf('alice', 'Argv')).toEqual({ secretAccessKey: 'argv-secret-value' })
  })

  it('edits only what is given: other settings and secrets keep their stored values', async () => {
    const before = (await findDestinationByName(db, await tenantId('alice'), 'Offsite'))!
    const edit = panel(['destination', 'edit', 'alice', 'Offsite', '--set', 'bucket=bucket-two'])
    expect(edit.code, edit.err).toBe(0)
    expect(edit.out.trim()).toBe('Destination "Offsite" saved.')
    const after = (await findDestinationByName(db, await tenantId('alice'), 'Offsite'))!
    expect(after.settings).toEqual({ ...before.settings, bucket: 'bucket-two' })
    expect(await secretsOf('alice', 'Offsite')).toEqual({ secretAccessKey: 'stdin-secret-value-1' })

    // A blank secret keeps the stored one, as a blank form field does.
    expect(
      panel(['destination', 'edit', 'alice', 'Offsite', '--set', 'secretAccessKey=']).code,
    ).toBe(0)
    expect(await secretsOf('alice', 'Offsite')).toEqual({ secretAccessKey: 'stdin-secret-value-1' })

    const file = join(dataDir, 'secret.txt')
    writeFileSync(file, 'file-secret-value-2\n', { mode: 0o600 })
    const fromFile = panel([
      'destination',
      'edit',
      'alice',
      'Offsite',
      '--rename',
      'Offsite 2',
      '--set-secret-file',
      `secretAccessKey=${file}`,
    ])
    expect(fromFile.code, fromFile.err).toBe(0)
    expect(fromFile.err).toBe('')
    expect(await secretsOf('alice', 'Offsite 2')).toEqual({
      secretAccessKey: 'file-secret-value-2',
    })
    expect((await findDestinationByName(db, await tenantId('alice'), 'Offsite 2'))!.id).toBe(
      before.id,
    )
    expect(
      (await findDestinationByName(db, await tenantId('alice'), 'Offsite 2'))!.settings.bucket,
    ).toBe('bucket-two')
  })

  it('refuses a rename onto another destination, bad values and unknown settings, as the form does', async () => {
    const clash = panel(['destination', 'edit', 'alice', 'Argv', '--rename', 'Offsite 2'])
    expect(clash.code).toBe(1)
    expect(lines(clash.err)).toEqual([
      'panel: name: You already have a destination named “Offsite 2”.',
    ])
    const bad = panel(['destination', 'edit', 'alice', 'Argv', '--set', 'endpoint=https://x'])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/^panel: endpoint: /)
    const unknown = panel(['destination', 'edit', 'alice', 'Argv', '--set', 'colour=red'])
    expect(unknown.code).toBe(2)
    expect(unknown.err).toMatch(/^panel: unknown setting "colour"/)
    const notSecret = panel(
      ['destination', 'edit', 'alice', 'Argv', '--set-secret-stdin', 'bucket'],
      'x\n',
    )
    expect(notSecret.code).toBe(2)
    const empty = panel(
      ['destination', 'edit', 'alice', 'Argv', '--set-secret-stdin', 'secretAccessKey'],
      '',
    )
    expect(empty.code).toBe(2)
    expect(empty.err).toMatch(/stdin is empty/)
    expect(await secretsOf('alice', 'Argv')).toEqual({ secretAccessKey: 'argv-secret-value' })
    const missingFile = panel([
      'destination',
      'edit',
      'alice',
      'Argv',
      '--set-secret-file',
      'secretAccessKey=/nonexistent/secret',
    ])
    expect(missingFile.code).toBe(1)
    expect(missingFile.err).toMatch(/cannot read "\/nonexistent\/secret" \(ENOENT\)/)
    expect(panel(['destination', 'edit', 'alice', 'Argv']).code).toBe(2)
    expect(panel(['destination', 'edit', 'alice', 'Nope', '--rename', 'X']).err).toMatch(
      /^panel: Destination “Nope” does not exist/,
    )
    // Another tenant's destination is not found by name.
    expect(panel(['destination', 'edit', 'bob', 'Argv', '--rename', 'Mine']).code).toBe(1)
  })

  it('edits a policy: only the given options change', () => {
    const add = panel([
      'policy',
      'add',
      'alice',
      '--name',
      'Nightly',
      '--destination',
      'Offsite 2',
      '--schedule',
      '15 2 * * *',
      '--exclude',
      '*.log',
      '--keep-daily',
      '10',
    ])
    expect(add.code, add.err).toBe(0)
    const edit = panel([
      'policy',
      'edit',
      'alice',
      'Nightly',
      '--rename',
      'Nightly 2',
      '--keep-weekly',
      '8',
      '--destination',
      'Offsite 2',
      '--destination',
      'Argv',
      '--disabled',
    ])
    expect(edit.code, edit.err).toBe(0)
    expect(edit.out.trim()).toBe('Policy "Nightly 2" saved.')
    const [p] = JSON.parse(panel(['policy', 'list', 'alice', '--json']).out)
    expect(p).toMatchObject({
      name: 'Nightly 2',
      enabled: false,
      schedule: '15 2 * * *',
      exclude: ['*.log'],
      destinations: ['Argv', 'Offsite 2'],
      includeHome: true,
      retention: { daily: 10, weekly: 8, monthly: 12 },
    })
    const again = panel(['policy', 'edit', 'alice', 'Nightly 2', '--enabled', '--exclude', ''])
    expect(again.code, again.err).toBe(0)
    const [q] = JSON.parse(panel(['policy', 'list', 'alice', '--json']).out)
    expect(q).toMatchObject({ enabled: true, exclude: [], retention: { daily: 10, weekly: 8 } })

    const bad = panel(['policy', 'edit', 'alice', 'Nightly 2', '--schedule', '* * *'])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/^panel: cron: /)
    expect(panel(['policy', 'edit', 'alice', 'Nightly 2', '--home', '--no-home']).code).toBe(2)
    expect(panel(['policy', 'edit', 'alice', 'Nightly 2']).code).toBe(2)
    expect(panel(['policy', 'edit', 'alice', 'Nightly 2', '--window', '01:00-02:00']).code).toBe(2)
    expect(panel(['policy', 'edit', 'alice', '--keep-daily', '3']).code).toBe(2)
  })

  it('refuses to remove a destination while a policy uses it, then removes both', async () => {
    const used = panel(['destination', 'remove', 'alice', 'Argv'])
    expect(used.code).toBe(1)
    expect(lines(used.err)).toEqual([
      'panel: “Argv” is used by “Nightly 2”. Remove it from those policies first.',
    ])
    expect(await findDestinationByName(db, await tenantId('alice'), 'Argv')).toBeDefined()
    const policy = panel(['policy', 'remove', 'alice', 'Nightly 2'])
    expect(policy.code, policy.err).toBe(0)
    expect(panel(['policy', 'remove', 'alice', 'Nightly 2']).code).toBe(1)
    const removed = panel(['destination', 'remove', 'alice', 'Argv'])
    expect(removed.code, removed.err).toBe(0)
    expect(await findDestinationByName(db, await tenantId('alice'), 'Argv')).toBeUndefined()
  })

  it('edits and removes the host’s own; a tenant’s copies refuse changes from the tenant side', async () => {
    const host = panel(
      [
        'destination',
        'add',
        '--admin',
        '--name',
        'Host S3',
        ...s3,
        '--set-secret-stdin',
        'secretAccessKey',
      ],
      'host-secret-value\n',
    )
    expect(host.code, host.err).toBe(0)
    const all = panel([
      'policy',
      'add',
      '--all-tenants',
      '--name',
      'Host nightly',
      '--destination',
      'Host S3',
    ])
    expect(all.code, all.err).toBe(0)

    const hostOwned = (what: string) =>
      `panel: ${what} is provided by your host: you can restore from it and back up now, but only your host can change it.`
    const editCopy = panel(['policy', 'edit', 'alice', 'Host nightly', '--keep-daily', '3'])
    expect(editCopy.code).toBe(1)
    expect(lines(editCopy.err)).toEqual([hostOwned('The policy “Host nightly”')])
    expect(lines(panel(['policy', 'remove', 'alice', 'Host nightly']).err)).toEqual([
      hostOwned('The policy “Host nightly”'),
    ])
    const destCopy = panel(['destination', 'edit', 'alice', 'Host S3', '--set', 'bucket=x'])
    expect(destCopy.code).toBe(1)
    expect(lines(destCopy.err)).toEqual([hostOwned('“Host S3”')])
    expect(panel(['destination', 'remove', 'alice', 'Host S3']).code).toBe(1)
    expect(await findDestinationByName(db, await tenantId('alice'), 'Host S3')).toBeDefined()

    // The host edits its own: the tenants' copies follow, the stored secret stays.
    const edit = panel([
      'policy',
      'edit',
      '--admin',
      'Host nightly',
      '--keep-daily',
      '3',
      '--window',
      '02:00-03:00',
    ])
    expect(edit.code, edit.err).toBe(0)
    expect(edit.out).toMatch(
      /^Provider policy "Host nightly" saved: backs up 2 tenants daily between 02:00 and 03:00/,
    )
    const copy = JSON.parse(panel(['policy', 'list', 'bob', '--json']).out)
    expect(copy).toEqual([
      expect.objectContaining({
        name: 'Host nightly',
        providedByHost: true,
        retention: expect.objectContaining({ daily: 3 }),
      }),
    ])
    expect(
      panel(['policy', 'edit', '--admin', 'Host nightly', '--schedule', '0 1 * * *']).code,
    ).toBe(2)
    const destEdit = panel([
      'destination',
      'edit',
      '--admin',
      'Host S3',
      '--set',
      'bucket=bucket-nine',
    ])
    expect(destEdit.code, destEdit.err).toBe(0)
    const stored = (await findProviderDestinationByName(db, 'Host S3'))!
    expect(stored.settings.bucket).toBe('bucket-nine')
    expect(readProviderSecrets(config.secretKey, stored)).toEqual({
      secretAccessKey: 'host-secret-value',
    })
    expect(
      (await findDestinationByName(db, await tenantId('bob'), 'Host S3'))!.settings.bucket,
    ).toBe('bucket-nine')

    const inUse = panel(['destination', 'remove', '--admin', 'Host S3'])
    expect(inUse.code).toBe(1)
    expect(inUse.err).toMatch(/^panel: “Host S3” is used by “Host nightly”/)
    expect(panel(['policy', 'remove', '--admin', 'Host nightly']).code).toBe(0)
    expect(JSON.parse(panel(['policy', 'list', 'bob', '--json']).out)).toEqual([])
    const gone = panel(['destination', 'remove', '--admin', 'Host S3'])
    expect(gone.code, gone.err).toBe(0)
    expect(await findProviderDestinationByName(db, 'Host S3')).toBeUndefined()
    expect(panel(['destination', 'remove', '--admin', 'alice', 'Host S3']).code).toBe(2)
  })

  it('writes an audit entry for each change, with no secret in it', async () => {
    const seen = await actions()
    const names = seen.map((e) => e.action)
    for (const action of [
      'destination.update',
      'destination.delete',
      'policy.update',
      'policy.delete',
      'provider-destination.update',
      'provider-destination.delete',
      'provider-policy.update',
      'provider-policy.delete',
    ])
      expect(names).toContain(action)
    const rename = seen.find((e) => e.action === 'destination.update' && e.target === 'Offsite 2')!
    expect(rename.details).toMatchObject({ renamedFrom: 'Offsite', settings: ['secretAccessKey'] })
    const text = JSON.stringify(seen)
    for (const secret of ['stdin-secret-value-1', 'file-secret-value-2', 'host-secret-value'])
      expect(text).not.toContain(secret)
  })
})

describe.runIf(requireSshd())('panel destination test pins an SFTP host key', slow, () => {
  let server: SshServer
  beforeAll(async () => {
    server = await startSshd()
  })
  afterAll(() => server?.stop())

  it('a CLI-made SFTP destination is unusable until `destination test` pins the key', async () => {
    const sftp = [
      '--type',
      'sftp',
      '--set',
      `host=${server.host}`,
      '--set',
      `port=${server.port}`,
      '--set',
      'path=backups',
      '--set',
      `user=${server.user}`,
    ]
    const add = panel(
      ['destination', 'add', 'alice', '--name', 'Box', ...sftp, '--set-secret-stdin', 'password'],
      `${server.password}\n`,
    )
    expect(add.code, add.err).toBe(0)
    expect(
      (await findDestinationByName(db, await tenantId('alice'), 'Box'))!.settings.hostKey,
    ).toBe('')
    for (const args of [[], ['--json']]) {
      const list = panel(['destination', 'list', 'alice', ...args])
      expect(list.out).toContain('Box')
      expect(list.out).not.toContain(server.password)
    }

    const test = panel(['destination', 'test', 'alice', 'Box'])
    expect(test.code, test.err).toBe(0)
    expect(lines(test.out)).toEqual([
      'Connected: wrote, read back, listed and removed a test object.',
      `Pinned Host key fingerprint: ${server.fingerprint()} (checked on every connection from now on).`,
    ])
    expect(test.out).not.toContain(server.password)
    const dest = (await findDestinationByName(db, await tenantId('alice'), 'Box'))!
    expect(dest.settings.hostKey).toBe(server.fingerprint())
    expect(await secretsOf('alice', 'Box')).toEqual({ password: server.password })

    // An edit keeps the pin and the password; the next test checks the key, pins nothing new.
    expect(panel(['destination', 'edit', 'alice', 'Box', '--set', 'path=backups2']).code).toBe(0)
    const again = panel(['destination', 'test', 'alice', 'Box', '--json'])
    expect(again.code, again.err).toBe(0)
    expect(JSON.parse(again.out)).toEqual({
      ok: true,
      message: 'Connected: wrote, read back, listed and removed a test object.',
      pinned: {},
    })
    expect(
      (await findDestinationByName(db, await tenantId('alice'), 'Box'))!.settings,
    ).toMatchObject({
      path: 'backups2',
      hostKey: server.fingerprint(),
    })
    expect(
      (await actions()).filter((e) => e.action === 'destination.test').map((e) => e.details),
    ).toEqual([
      expect.objectContaining({ type: 'sftp', ok: true }),
      expect.objectContaining({ type: 'sftp', ok: true }),
    ])
  })

  it('exits non-zero with the reason when the test fails', async () => {
    const wrong = panel(
      ['destination', 'edit', 'alice', 'Box', '--set-secret-stdin', 'password'],
      'not the password\n',
    )
    expect(wrong.code, wrong.err).toBe(0)
    const failed = panel(['destination', 'test', 'alice', 'Box'])
    expect(failed.code).toBe(1)
    expect(failed.out).toBe('')
    expect(lines(failed.err)).toHaveLength(1)
    expect(failed.err).toMatch(/^panel: /)
    expect(failed.err).not.toContain('not the password')

    await server.restart({ newHostKey: true })
    expect(
      panel(
        ['destination', 'edit', 'alice', 'Box', '--set-secret-stdin', 'password'],
        server.password,
      ).code,
    ).toBe(0)
    const changed = panel(['destination', 'test', 'alice', 'Box'])
    expect(changed.code).toBe(1)
    expect(lines(changed.err)).toHaveLength(1)
    // The pin stays: a changed host key is refused, never silently re-pinned.
    expect(
      (await findDestinationByName(db, await tenantId('alice'), 'Box'))!.settings.hostKey,
    ).not.toBe(server.fingerprint())
  })

  it('pins the host’s own SFTP destination too (--admin)', async () => {
    const add = panel(
      [
        'destination',
        'add',
        '--admin',
        '--name',
        'Host box',
        '--type',
        'sftp',
        '--set',
        `host=${server.host}`,
        '--set',
        `port=${server.port}`,
        '--set',
        'path=host-backups',
        '--set',
        `user=${server.user}`,
        '--set-secret-stdin',
        'password',
      ],
      server.password,
    )
    expect(add.code, add.err).toBe(0)
    const test = panel(['destination', 'test', '--admin', 'Host box'])
    expect(test.code, test.err).toBe(0)
    expect(test.out).toContain(`Pinned Host key fingerprint: ${server.fingerprint()}`)
    expect((await findProviderDestinationByName(db, 'Host box'))!.settings.hostKey).toBe(
      server.fingerprint(),
    )
  })
})
