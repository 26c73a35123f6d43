import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { sftp, pinHostKey } from '../../src/drivers/sftp/index.ts'
import { classify, hostKeyChanged } from '../../src/drivers/sftp/errors.ts'
import { probe } from '../../src/drivers/probe.ts'
import { driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import { requireSshd, startSshd, type SshServer } from '../services/sshd.ts'
import { sftpDrivers } from '../support/sftp.ts'
import { closedPort, countingServer, errorOf as failure } from '../support/storage.ts'

describe.runIf(requireSshd())('sftp driver', () => {
  let server: SshServer
  const { ctx, values, open, logins, connections, closeAll } = sftpDrivers(() => server)
  beforeAll(async () => {
    server = await startSshd()
  })
  afterAll(async () => {
    await closeAll()
    await server?.stop()
  })

  driverConformance('sftp', async () => {
    const d = open()
    return { driver: d, cleanup: async () => void (await d.close?.()) }
  })

  it('pins the host key as OpenSSH prints it', async () => {
    const { fingerprint } = await pinHostKey({ ...values(), hostKey: '' }, {}, ctx())
    expect(fingerprint).toBe(server.fingerprint())
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
  })

  it('Test connection succeeds, creating the missing remote path', async () => {
    const c = ctx()
    const path = join(server.home, 'not', 'yet', 'there')
    expect(await probe(open({ path }, undefined, c))).toMatch(/^Connected/)
    expect(statSync(join(path, c.tenantName)).isDirectory()).toBe(true)
  })

  it('reuses one SSH connection for many calls and closes it on close()', async () => {
    const before = logins()
    const d = open()
    await Promise.all(Array.from({ length: 8 }, (_, i) => putBytes(d, `many/${i}`, `object ${i}`)))
    expect(await keys(d, 'many/')).toHaveLength(8)
    await Promise.all(Array.from({ length: 8 }, (_, i) => d.remove(`many/${i}`)))
    expect(logins() - before).toBe(1)
    await d.close!()
    await putBytes(d, 'again', 'reconnects after close')
    expect(logins() - before).toBe(2)
  })

  it('writes under a relative path inside the login folder', async () => {
    const c = ctx()
    const d = open({ path: 'relative/backups' }, undefined, c)
    await putBytes(d, 'config', 'hello')
    expect(
      readFileSync(join(server.home, 'relative/backups', c.tenantName, 'config'), 'utf8'),
    ).toBe('hello')
    const tilde = open({ path: '~/relative/backups' }, undefined, c)
    expect((await readAll(await tilde.get('config'))).toString()).toBe('hello')
  })

  it('refuses bad credentials with AuthFailed and a plain message', async () => {
    const err = await failure(probe(open({}, { password: 'wrong password' })))
    expect(err).toMatchObject({ code: 'AuthFailed' })
    expect(err.message).toMatch(
      /^bad credentials: 127\.0\.0\.1:\d+ refused the user name, password or key$/,
    )
    expect(err.message).not.toContain('wrong password')
    const other = await failure(probe(open({ user: 'nobody-here' })))
    expect(other.code).toBe('AuthFailed')
  })

  it('says "connection refused" for a closed port, and "could not be found" for a bad host', async () => {
    const port = await closedPort()
    const refused = await failure(probe(open({ port })))
    expect(refused).toMatchObject({
      code: 'Transient',
      message: `connection refused by 127.0.0.1:${port}`,
    })
    const dns = await failure(probe(open({ host: 'no-such-host.invalid' })))
    expect(dns.code).toBe('BadConfig')
    expect(dns.message).toMatch(/no-such-host\.invalid.*could not be found/)
  })

  it('refuses a loopback host without an allowlist, and makes no connection', async () => {
    const seen = await countingServer()
    try {
      const c = { ...ctx(), guard: { allow: [] } }
      const d = sftp.open(values({ port: seen.port }), { password: server.password }, c)
      const err = await failure(probe(d))
      expect(err.code).toBe('BadConfig')
      expect(err.message).toMatch(/127\.0\.0\.1.*private, loopback or metadata address/)
      expect(
        (await failure(pinHostKey(values({ port: seen.port, hostKey: '' }), {}, c))).code,
      ).toBe('BadConfig')
      await new Promise((r) => setTimeout(r, 200))
      expect(seen.connections()).toBe(0)
    } finally {
      await seen.close()
    }
  })

  it('refuses an unwritable remote path with "no write permission in <path>"', async () => {
    const locked = join(server.dir, 'root-owned')
    mkdirSync(locked, { mode: 0o755 })
    const err = await failure(probe(open({ path: locked })))
    expect(err.code).toBe('BadConfig')
    expect(err.message).toContain(`no write permission in ${locked}`)
  })

  it('refuses to connect before the host key is pinned, without connecting', async () => {
    const before = connections()
    const err = await failure(probe(open({ hostKey: '' })))
    expect(err).toMatchObject({
      code: 'BadConfig',
      message: "test the connection first to pin the server's host key",
    })
    expect(connections()).toBe(before)
  })

  it('fails a put cleanly when sshd dies mid-upload, and reconnects once it is back', async () => {
    const d = open()
    await putBytes(d, 'big/keep', 'older object')
    let sent = 0
    let killed: Promise<void> | undefined
    const source = () =>
      Readable.from(
        (async function* () {
          for (;;) {
            yield randomBytes(256 * 1024)
            sent += 256 * 1024
            if (sent === 8 << 20) killed = server.kill()
            await new Promise((r) => setTimeout(r, 2))
          }
        })(),
      )
    const err = await failure(d.put('big/object', source, { size: 64 << 20 }))
    expect(err.code).toBe('Transient')
    expect(err.message).toMatch(/^the connection to 127\.0\.0\.1:\d+ was lost$/)
    await killed
    const down = await failure(d.stat('big/keep'))
    expect(down.message).toMatch(/^connection refused by 127\.0\.0\.1:\d+$/)
    await server.restart()
    // The same driver reconnects; the half-written object is nowhere to be seen.
    expect(await keys(d, '')).toEqual(['big/keep'])
    expect((await failure(d.stat('big/object'))).code).toBe('NotFound')
    expect((await readAll(await d.get('big/keep'))).toString()).toBe('older object')
  }, 60_000)

  it('checks the pinned host key on every connection, and refuses a changed one', async () => {
    const old = server.fingerprint()
    const d = open({ hostKey: old })
    await putBytes(d, 'pinned', 'x')
    await d.close!()
    await server.restart({ newHostKey: true })
    const now = server.fingerprint()
    expect(now).not.toBe(old)
    const before = logins()
    const err = await failure(d.stat('pinned'))
    expect(err.code).toBe('BadConfig')
    expect(err.message).toContain(`the server's host key changed: expected ${old}, got ${now}`)
    // Nothing was sent to the impostor: the handshake stopped before authentication.
    expect(logins()).toBe(before)
    const again = await failure(pinHostKey(values({ hostKey: old }), {}, ctx()))
    expect(again.message).toContain(`expected ${old}, got ${now}`)
    // Clearing the pin (a real reinstall) pins the new key.
    expect(await pinHostKey(values({ hostKey: '' }), {}, ctx())).toEqual({ fingerprint: now })
    expect(await probe(open({ hostKey: now }))).toMatch(/^Connected/)
  })
})

describe('sftp classify', () => {
  const sftpError = (code: number, message: string) => Object.assign(new Error(message), { code })
  const sockError = (code: string) =>
    Object.assign(new Error(`connect ${code} 10.0.0.1:22`), { code, level: 'client-socket' })
  it.each([
    [
      Object.assign(new Error('All configured authentication methods failed'), {
        level: 'client-authentication',
      }),
      'AuthFailed',
      'bad credentials: h:22 refused the user name, password or key',
    ],
    [
      new Error(
        'Cannot parse privateKey: Encrypted private OpenSSH key detected, but no passphrase given',
      ),
      'AuthFailed',
      'the private key’s passphrase is missing or wrong',
    ],
    [
      new Error('Cannot parse privateKey: Unsupported key format'),
      'BadConfig',
      'the private key could not be read: use an RSA, ECDSA or ed25519 key in OpenSSH or PEM format',
    ],
    [sftpError(2, 'No such file'), 'NotFound', 'the object does not exist'],
    [sftpError(3, 'Permission denied'), 'BadConfig', 'no write permission in /srv/b on h:22'],
    [
      sftpError(14, 'No space on filesystem'),
      'NoSpace',
      'h:22 is out of space (its disk or your quota is full)',
    ],
    [
      sftpError(15, 'Quota exceeded'),
      'NoSpace',
      'h:22 is out of space (its disk or your quota is full)',
    ],
    [sftpError(4, 'Failure'), 'Transient', 'the SFTP server reported a failure (Failure)'],
    [sockError('ECONNREFUSED'), 'Transient', 'connection refused by h:22'],
    [sockError('ETIMEDOUT'), 'Transient', 'timed out connecting to h:22'],
    [
      sockError('ENOTFOUND'),
      'BadConfig',
      'the host of h:22 could not be found (DNS lookup failed)',
    ],
    [
      Object.assign(new Error('Timed out while waiting for handshake'), {
        level: 'client-timeout',
      }),
      'Transient',
      'timed out waiting for h:22 to answer',
    ],
    [new Error('No response from server'), 'Transient', 'the connection to h:22 was lost'],
  ] as const)('%s → %s', (err, code, message) => {
    expect(classify(err, { server: 'h:22', path: '/srv/b' })).toMatchObject({
      code,
      message,
      cause: err,
    })
  })

  it('words a host key mismatch as a refusal', () => {
    const e = hostKeyChanged('SHA256:old', 'SHA256:new')
    expect(e.code).toBe('BadConfig')
    expect(e.message).toMatch(
      /^the server's host key changed: expected SHA256:old, got SHA256:new\./,
    )
  })
})
