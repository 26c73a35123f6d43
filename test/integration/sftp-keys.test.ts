import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPrivateKey } from 'node:crypto'
import { probe } from '../../src/drivers/probe.ts'
import { makeKey, requireSshd, startSshd, type SshServer } from '../services/sshd.ts'
import { sftpDrivers } from '../support/sftp.ts'
import { errorOf as failure } from '../support/storage.ts'

describe.runIf(requireSshd())('sftp driver: logging in with private keys', () => {
  let server: SshServer
  let keyDir: string
  const { open, closeAll } = sftpDrivers(() => server)
  beforeAll(async () => {
    server = await startSshd()
    keyDir = mkdtempSync(join(tmpdir(), 'sftp-keys-'))
  })
  afterAll(async () => {
    await closeAll()
    await server?.stop()
    rmSync(keyDir, { recursive: true, force: true })
  })

  const cases = [
    { type: 'rsa', format: 'PEM', passphrase: undefined },
    { type: 'ecdsa', format: 'OpenSSH', passphrase: 'ecdsa key passphrase' },
    { type: 'ed25519', format: 'OpenSSH', passphrase: undefined },
    { type: 'rsa', format: 'OpenSSH', passphrase: 'rsa key passphrase' },
    { type: 'ecdsa', format: 'PEM', passphrase: undefined },
  ] as const
  it.each(cases)(
    'logs in with an $type key in $format format (passphrase: $passphrase)',
    async ({ type, format, passphrase }) => {
      const key = makeKey(keyDir, type, { format, passphrase })
      server.authorize(key.publicKey)
      const secrets = { privateKey: key.privateKey, ...(passphrase ? { passphrase } : {}) }
      expect(await probe(open({}, secrets))).toMatch(/^Connected/)
    },
  )

  it('logs in with PKCS#8 keys (openssl), ed25519 and encrypted RSA included', async () => {
    for (const [algo, pass] of [
      ['ed25519', undefined],
      ['rsa', 'pkcs8 passphrase'],
    ] as const) {
      const path = join(keyDir, `pkcs8-${algo}`)
      execFileSync(
        'openssl',
        [
          'genpkey',
          '-algorithm',
          algo,
          ...(algo === 'rsa' ? ['-pkeyopt', 'rsa_keygen_bits:2048'] : []),
          '-out',
          path,
          ...(pass ? ['-aes-256-cbc', '-pass', `pass:${pass}`] : []),
        ],
        { stdio: 'pipe' },
      )
      chmodSync(path, 0o600)
      // OpenSSH cannot read a PKCS#8 ed25519 key: build its public line from the raw key.
      const pub =
        algo === 'ed25519'
          ? ed25519PublicLine(readFileSync(path, 'utf8'))
          : execFileSync('ssh-keygen', ['-y', '-f', path, '-P', pass ?? ''], { encoding: 'utf8' })
      server.authorize(pub)
      const privateKey = readFileSync(path, 'utf8')
      expect(privateKey).toMatch(pass ? /BEGIN ENCRYPTED PRIVATE KEY/ : /BEGIN PRIVATE KEY/)
      expect(await probe(open({}, { privateKey, ...(pass ? { passphrase: pass } : {}) }))).toMatch(
        /^Connected/,
      )
    }
  })

  it('says so when the passphrase is missing or wrong, or the key is unknown', async () => {
    const key = makeKey(keyDir, 'ed25519', { passphrase: 'right passphrase' })
    server.authorize(key.publicKey)
    const missing = await failure(probe(open({}, { privateKey: key.privateKey })))
    expect(missing).toMatchObject({
      code: 'AuthFailed',
      message: 'the private key’s passphrase is missing or wrong',
    })
    const wrong = await failure(
      probe(open({}, { privateKey: key.privateKey, passphrase: 'wrong' })),
    )
    expect(wrong).toMatchObject({
      code: 'AuthFailed',
      message: 'the private key’s passphrase is missing or wrong',
    })
    const pem = makeKey(keyDir, 'rsa', { format: 'PEM', passphrase: 'right passphrase' })
    const wrongPem = await failure(
      probe(open({}, { privateKey: pem.privateKey, passphrase: 'wrong' })),
    )
    expect(wrongPem.code).toBe('AuthFailed')
    const stranger = makeKey(keyDir, 'ed25519')
    expect((await failure(probe(open({}, { privateKey: stranger.privateKey })))).code).toBe(
      'AuthFailed',
    )
    const garbage = await failure(
      probe(
        open(
          {},
          {
            privateKey:
              '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----',
          },
        ),
      ),
    )
    expect(garbage.code).toBe('BadConfig')
  })
})

function ed25519PublicLine(pem: string): string {
  const x = Buffer.from(createPrivateKey(pem).export({ format: 'jwk' }).x!, 'base64url')
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b])
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(x)]).toString('base64')} pkcs8`
}
