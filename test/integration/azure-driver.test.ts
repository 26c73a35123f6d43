import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { inspect } from 'node:util'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  SASProtocol,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob'
import { azure } from '../../src/drivers/azure/index.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { getJob } from '../../src/db/jobs.ts'
import { listRuns } from '../../src/db/runs.ts'
import { runLogs, runStages, runs as runsTable } from '../../src/db/schema.ts'
import { listSnapshots } from '../../src/engine/restic/snapshots.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { runVerify } from '../../src/engine/jobs/verify.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { freshDeps } from '../helpers.ts'
import { policy, realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import { classify } from '../../src/drivers/azure/errors.ts'
import { azureDriver } from '../../src/drivers/azure/driver.ts'
import { BLOCK_SIZE } from '../../src/drivers/azure/upload.ts'
import { probe } from '../../src/drivers/probe.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import { StorageError, type Driver } from '../../src/drivers/types.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'
import {
  DEV_ACCOUNT,
  DEV_KEY,
  requireAzurite,
  startAzurite,
  type AzuriteServer,
} from '../services/azurite.ts'
import { restoreAndCompare } from '../support/restore.ts'

const CONTAINER = 'panel'
const LOOPBACK: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }

/** An account SAS for the Blob service, signed with `key` (the dev key unless told). */
function accountSas(opts: { permissions?: string; expiresOn?: Date; key?: string } = {}): string {
  return generateAccountSASQueryParameters(
    {
      permissions: AccountSASPermissions.parse(opts.permissions ?? 'rwdlac'),
      services: AccountSASServices.parse('b').toString(),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      protocol: SASProtocol.HttpsAndHttp,
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn: opts.expiresOn ?? new Date(Date.now() + 60 * 60_000),
    },
    new StorageSharedKeyCredential(DEV_ACCOUNT, opts.key ?? DEV_KEY),
  ).toString()
}

/** A closed port on loopback: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The StorageError `p` rejects with. */
async function errorOf(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => expect.fail('expected a StorageError, but the call succeeded'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StorageError)
  return err as StorageError
}

describe.runIf(requireAzurite())('Azure Blob driver (Azurite)', () => {
  let az: AzuriteServer
  const opened: Driver[] = []
  let n = 0

  /** A driver over the shared Azurite container with `settings`/`secrets` overrides. */
  function open(
    settings: Record<string, unknown> = {},
    secrets: Record<string, string> = { accountKey: DEV_KEY },
    opts: { tenant?: string; guard?: GuardPolicy } = {},
  ): Driver {
    const values = {
      accountName: DEV_ACCOUNT,
      container: CONTAINER,
      path: `t${++n}`,
      endpoint: az.endpoint,
      ...settings,
    }
    const driver = azure.open(values, secrets, {
      tenantName: opts.tenant ?? 'alice',
      localRoot: '/nonexistent',
      guard: opts.guard ?? LOOPBACK,
    })
    opened.push(driver)
    return driver
  }

  beforeAll(async () => {
    az = await startAzurite()
    await az.createContainer(CONTAINER)
  }, 60_000)
  afterAll(async () => {
    await Promise.all(opened.map((d) => d.close?.()))
    await az?.stop()
  })

  driverConformance('azure', async () => {
    const path = `conformance/${++n}`
    const driver = azure.open(
      { accountName: DEV_ACCOUNT, container: CONTAINER, path, endpoint: az.endpoint },
      { accountKey: DEV_KEY },
      { tenantName: 'alice', localRoot: '/nonexistent', guard: LOOPBACK },
    )
    return {
      driver,
      async cleanup() {
        await driver.close?.()
        const container = az.service.getContainerClient(CONTAINER)
        for await (const blob of container.listBlobsFlat({ prefix: `${path}/` }))
          await container.deleteBlob(blob.name)
      },
    }
  })

  describe('Test connection', () => {
    it('succeeds with the account key and with an account SAS token', async () => {
      expect(await probe(open())).toMatch(/^Connected/)
      expect(await probe(open({}, { sasToken: accountSas() }))).toMatch(/^Connected/)
      expect(await probe(open({}, { sasToken: `?${accountSas()}` }))).toMatch(/^Connected/)
    })

    it('roots every object at <path>/<tenant>/ so tenants sharing a container never collide', async () => {
      const a = open({ path: 'shared/backups' }, undefined, { tenant: 'alice' })
      const b = open({ path: 'shared/backups' }, undefined, { tenant: 'bob' })
      await putBytes(a, 'config', 'alice')
      await putBytes(b, 'config', 'bob')
      expect((await readAll(await a.get('config'))).toString()).toBe('alice')
      expect(await keys(b, '')).toEqual(['config'])
      const names: string[] = []
      for await (const blob of az.service
        .getContainerClient(CONTAINER)
        .listBlobsFlat({ prefix: 'shared/' }))
        names.push(blob.name)
      expect(names.sort()).toEqual(['shared/backups/alice/config', 'shared/backups/bob/config'])
    })

    it('says plainly when the account key is wrong (AuthFailed)', async () => {
      const err = await errorOf(probe(open({}, { accountKey: randomBytes(64).toString('base64') })))
      expect(err.code).toBe('AuthFailed')
      expect(err.message).toBe('bad credentials: the account key was refused')
    })

    it('says plainly when the SAS token is wrong, expired or lacks permissions (AuthFailed)', async () => {
      const forged = await errorOf(
        probe(open({}, { sasToken: accountSas({ key: randomBytes(64).toString('base64') }) })),
      )
      expect(forged).toMatchObject({
        code: 'AuthFailed',
        message: 'bad credentials: the SAS token was refused',
      })
      const expired = await errorOf(
        probe(open({}, { sasToken: accountSas({ expiresOn: new Date(Date.now() - 60_000) }) })),
      )
      expect(expired.code).toBe('AuthFailed')
      const readOnly = await errorOf(
        probe(open({}, { sasToken: accountSas({ permissions: 'rl' }) })),
      )
      expect(readOnly.code).toBe('AuthFailed')
      expect(readOnly.message).toMatch(/SAS token/)
    })

    it('names a container that does not exist (BadConfig)', async () => {
      const err = await errorOf(probe(open({ container: 'no-such-container' })))
      expect(err).toMatchObject({
        code: 'BadConfig',
        message: 'container “no-such-container” does not exist',
      })
    })

    it('says the connection was refused when nothing listens (Transient)', async () => {
      const port = await closedPort()
      const err = await errorOf(
        probe(open({ endpoint: `http://127.0.0.1:${port}/${DEV_ACCOUNT}` })),
      )
      expect(err).toMatchObject({
        code: 'Transient',
        message: `connection refused by 127.0.0.1:${port}`,
      })
    })

    it('says the host could not be found when DNS fails (BadConfig)', async () => {
      const err = await errorOf(
        probe(open({ endpoint: `https://no-such-host.invalid/${DEV_ACCOUNT}` })),
      )
      expect(err.code).toBe('BadConfig')
      expect(err.message).toMatch(/“no-such-host\.invalid” could not be found/)
    })

    it('refuses loopback without an allowlist, by IP literal and by name, making no connection', async () => {
      const connections: unknown[] = []
      const server: Server = createServer((socket) => (connections.push(socket), socket.destroy()))
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      try {
        for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
          const driver = open({ endpoint: `http://${host}:${port}/${DEV_ACCOUNT}` }, undefined, {
            guard: { allow: [] },
          })
          const err = await errorOf(probe(driver))
          expect(err.code).toBe('BadConfig')
          expect(err.message).toMatch(
            /private, loopback or metadata address; connections there are not allowed/,
          )
          expect(await codeOf(driver.stat('config'))).toBe('BadConfig')
          expect(await codeOf(keys(driver, ''))).toBe('BadConfig')
        }
        expect(connections).toHaveLength(0)
      } finally {
        server.close()
      }
    })

    it('gives up on a server that accepts but never answers (timed out)', async () => {
      const sockets: Socket[] = []
      const server = createServer((socket) => void sockets.push(socket))
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`
      const d = azureDriver({
        account: DEV_ACCOUNT,
        key: DEV_KEY,
        container: CONTAINER,
        prefix: 'x/',
        endpoint,
        guard: LOOPBACK,
        idleMs: 300,
      })
      try {
        expect(await errorOf(d.stat('config'))).toMatchObject({
          code: 'Transient',
          message: 'timed out',
        })
        expect(sockets.length).toBeGreaterThan(0)
      } finally {
        await d.close?.()
        for (const socket of sockets) socket.destroy()
        server.close()
      }
    })

    it('verifies TLS: a self-signed certificate is refused (BadConfig)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'azure-tls-'))
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
        ].concat([
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ]),
        { stdio: 'pipe' },
      )
      const server = createHttpsServer(
        { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
        (_req, res) => res.end(),
      )
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      try {
        const err = await errorOf(
          probe(open({ endpoint: `https://127.0.0.1:${port}/${DEV_ACCOUNT}` })),
        )
        expect(err).toMatchObject({ code: 'BadConfig', message: 'TLS certificate not trusted' })
      } finally {
        server.close()
        rmSync(dir, { recursive: true, force: true })
      }
    })

    it('does not follow a redirect (BadConfig), not even to an allowed host', async () => {
      const server = createHttpServer((req, res) => {
        res
          .writeHead(307, { location: `${az.endpoint}${req.url?.replace(`/${DEV_ACCOUNT}`, '')}` })
          .end()
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      try {
        const err = await errorOf(
          probe(open({ endpoint: `http://127.0.0.1:${port}/${DEV_ACCOUNT}` })),
        )
        expect(err.code).toBe('BadConfig')
        expect(err.message).toMatch(/redirect/)
      } finally {
        server.close()
      }
    })

    it('asks for exactly one of account key and SAS token (BadConfig)', async () => {
      const none = await errorOf(probe(open({}, {})))
      expect(none).toMatchObject({
        code: 'BadConfig',
        message: 'Give an account key or a SAS token.',
      })
      const both = await errorOf(probe(open({}, { accountKey: DEV_KEY, sasToken: accountSas() })))
      expect(both.code).toBe('BadConfig')
      expect(both.message).toMatch(/either an account key or a SAS token, not both/)
    })

    it('never puts the key or the SAS token into an error message', async () => {
      const sas = accountSas({ key: randomBytes(64).toString('base64') })
      const key = randomBytes(64).toString('base64')
      const port = await closedPort()
      const errors = [
        await errorOf(probe(open({}, { sasToken: sas }))),
        await errorOf(probe(open({}, { accountKey: key }))),
        await errorOf(
          probe(open({ endpoint: `http://127.0.0.1:${port}/${DEV_ACCOUNT}` }, { sasToken: sas })),
        ),
      ]
      const sig = new URLSearchParams(sas).get('sig')!
      for (const err of errors) {
        for (const secret of [sas, sig, encodeURIComponent(sig), key])
          expect(err.message).not.toContain(secret)
      }
    })
  })

  describe('uploads', () => {
    it('leaves no blob when a multi-block upload fails half-way, and keeps the old one on overwrite', async () => {
      const d = open()
      await putBytes(d, 'data/ab/pack', 'old')
      const failing = () =>
        Readable.from(
          (async function* () {
            for (let i = 0; i < 12; i++) yield Buffer.alloc(1 << 20, i) // 12 MiB: one block staged
            throw new Error('the client went away')
          })(),
        )
      expect(BLOCK_SIZE).toBeLessThan(12 << 20)
      expect(await codeOf(d.put('data/ab/pack', failing, { size: 30 << 20 }))).toBe('Transient')
      expect(await codeOf(d.put('data/cd/new', failing, { size: 30 << 20 }))).toBe('Transient')
      expect((await readAll(await d.get('data/ab/pack'))).toString()).toBe('old')
      expect(await keys(d, '')).toEqual(['data/ab/pack'])
      expect(await codeOf(d.stat('data/cd/new'))).toBe('NotFound')
    })

    it('uploads a block-sized object in one piece and a larger one in blocks, byte for byte', async () => {
      const d = open()
      for (const size of [BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE]) {
        const data = randomBytes(size)
        await putBytes(d, `obj-${size}`, data)
        expect((await readAll(await d.get(`obj-${size}`))).equals(data)).toBe(true)
        expect(await d.stat(`obj-${size}`)).toEqual({ key: `obj-${size}`, size })
      }
    }, 60_000)
  })

  describe('settings and recovery kit', () => {
    const form = {
      accountName: DEV_ACCOUNT,
      container: 'backups',
      path: '',
      endpoint: '',
      accountKey: DEV_KEY,
      sasToken: '',
    }

    it('validates each field with a sentence', () => {
      const ok = parseSettings(azure.settings, form)
      expect(ok).toEqual({
        ok: true,
        settings: { accountName: DEV_ACCOUNT, container: 'backups', path: '', endpoint: '' },
        secrets: { accountKey: DEV_KEY },
      })
      const bad = parseSettings(azure.settings, {
        accountName: 'My_Account',
        container: 'Bad--Name',
        path: '/leading',
        endpoint: 'ftp://example.com',
        accountKey: 'not base64!',
        sasToken: 'https://x.blob.core.windows.net/c',
      })
      expect(bad.ok).toBe(false)
      if (bad.ok) return
      expect(Object.keys(bad.errors).sort()).toEqual([
        'accountKey',
        'accountName',
        'container',
        'endpoint',
        'path',
        'sasToken',
      ])
      expect(bad.errors.path).toMatch(/leading slash/)
      const token = `?${accountSas()}`
      const sas = parseSettings(azure.settings, { ...form, accountKey: '', sasToken: token })
      expect(sas.ok && sas.secrets).toEqual({ sasToken: token })
      expect(
        parseSettings(azure.settings, { ...form, endpoint: 'https://x.example/?sv=1&sig=abc' }).ok,
      ).toBe(false)
      expect(parseSettings(azure.settings, { ...form, path: 'a/../b' }).ok).toBe(false)
      expect(parseSettings(azure.settings, { ...form, path: 'a/b/' }).ok).toBe(true)
      expect(azure.settings.filter((f) => f.type === 'secret').map((f) => f.name)).toEqual([
        'accountKey',
        'sasToken',
      ])
    })

    it('gives stock restic azure:<container>:/<path>/<tenant> with the account in the environment', () => {
      const ctx = { tenantName: 'alice', localRoot: '/nonexistent', guard: LOOPBACK }
      const key = azure.repository({ ...form, path: 'panel/backups/' }, { accountKey: 'S2V5' }, ctx)
      expect(key).toEqual({
        repository: 'azure:backups:/panel/backups/alice',
        env: { AZURE_ACCOUNT_NAME: DEV_ACCOUNT, AZURE_ACCOUNT_KEY: 'S2V5' },
        note: undefined,
      })
      const sas = azure.repository(form, { sasToken: '?sv=1&sig=x' }, ctx)
      expect(sas.repository).toBe('azure:backups:/alice')
      expect(sas.env).toEqual({ AZURE_ACCOUNT_NAME: DEV_ACCOUNT, AZURE_ACCOUNT_SAS: 'sv=1&sig=x' })
      const china = azure.repository(
        { ...form, endpoint: `https://${DEV_ACCOUNT}.blob.core.chinacloudapi.cn` },
        { accountKey: 'S2V5' },
        ctx,
      )
      expect(china.env).toMatchObject({ AZURE_ENDPOINT_SUFFIX: 'core.chinacloudapi.cn' })
      expect(china.note).toMatch(/restic 0\.16/)
      const custom = azure.repository(
        { ...form, endpoint: 'http://127.0.0.1:10000/devstoreaccount1' },
        { accountKey: 'S2V5' },
        ctx,
      )
      expect(custom.note).toMatch(/Stock restic cannot reach the custom endpoint/)
      expect(custom.note).toMatch(/then run restic -r \.\/copy\/alice\.$/)
    })
  })

  describe('classify', () => {
    const rest = (statusCode: number, errorCode?: string) =>
      Object.assign(new Error('RestError'), {
        name: 'RestError',
        statusCode,
        code: errorCode,
        details: { errorCode },
      })
    const net = (code: string) =>
      Object.assign(new Error(`connect ${code}`), {
        name: 'RestError',
        code,
        request: { url: 'https://acct.blob.core.windows.net/c/x?sig=SECRET' },
      })
    it.each([
      [
        rest(403, 'AuthenticationFailed'),
        'AuthFailed',
        'bad credentials: the account key was refused',
      ],
      [rest(404, 'ContainerNotFound'), 'BadConfig', 'container “box” does not exist'],
      [rest(404, 'BlobNotFound'), 'NotFound', 'the object does not exist'],
      [rest(404), 'NotFound', 'the object does not exist'],
      [rest(503, 'ServerBusy'), 'Transient', 'Azure is busy (too many requests); try again later'],
      [rest(429), 'Transient', 'Azure is busy (too many requests); try again later'],
      [rest(507), 'NoSpace', 'the storage server is out of space'],
      [
        rest(500, 'InternalError'),
        'Transient',
        'Azure had a server error (HTTP 500 InternalError)',
      ],
      [net('ECONNREFUSED'), 'Transient', 'connection refused by acct.blob.core.windows.net'],
      [net('ETIMEDOUT'), 'Transient', 'timed out'],
      [net('ECONNRESET'), 'Transient', 'the connection to acct.blob.core.windows.net was dropped'],
      [net('CERT_HAS_EXPIRED'), 'BadConfig', 'TLS certificate not trusted'],
      [net('DEPTH_ZERO_SELF_SIGNED_CERT'), 'BadConfig', 'TLS certificate not trusted'],
    ])('%s → %s', (err, code, message) => {
      expect(classify(err, { container: 'box', auth: 'key' })).toMatchObject({ code, message })
    })

    it('keeps a scrubbed cause: no SAS signature, no request', () => {
      const err = Object.assign(
        new Error(
          'Signature did not match: https://a.blob.core.windows.net/c?sv=1&sig=SECRET\nmore',
        ),
        {
          name: 'RestError',
          statusCode: 403,
          code: 'AuthenticationFailed',
          request: {
            url: 'https://a.blob.core.windows.net/c?sv=1&sig=SECRET',
            headers: { authorization: 'SECRET' },
          },
        },
      )
      const classified = classify(err, { auth: 'sas' })
      expect(classified.message).toBe('bad credentials: the SAS token was refused')
      expect(inspect(classified, { depth: 5 })).not.toContain('SECRET')
      expect(classified.cause).toMatchObject({ statusCode: 403, code: 'AuthenticationFailed' })
    })
  })
})

/** Every blob under `prefix`, downloaded into `dir` with the prefix cut off: stock restic's local layout. */
async function copyRepository(az: AzuriteServer, prefix: string, dir: string): Promise<number> {
  const container = az.service.getContainerClient(CONTAINER)
  let count = 0
  for await (const blob of container.listBlobsFlat({ prefix })) {
    const file = join(dir, blob.name.slice(prefix.length))
    mkdirSync(dirname(file), { recursive: true })
    await container.getBlobClient(blob.name).downloadToFile(file)
    count++
  }
  return count
}

/** restic processes started by this test process, with their argv and environment. */
function resticChildren(): { pid: string; cmdline: string; environ: string }[] {
  const out = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      if (!/^Name:\s+restic$/m.test(status) || !status.includes(`\nPPid:\t${process.pid}\n`))
        continue
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').replace(/\0/g, '\n')
      out.push({ pid, cmdline, environ })
    } catch {
      // exited meanwhile
    }
  }
  return out
}

describe.runIf(requireAzurite() && rootAvailable())(
  'backups to Azure Blob through the runner',
  () => {
    process.env.PANEL_OUTBOUND_ALLOW = '127.0.0.1,localhost,::1'
    const deps = freshDeps({ drivers: { ...drivers, azure } })
    let scratch = ''
    let az: AzuriteServer
    let runner: Runner
    let alice: Awaited<ReturnType<typeof realTenant>>
    const homes: string[] = []
    const sas = accountSas()
    const files = {
      'public_html/index.html': '<h1>alice on azure</h1>\n',
      'public_html/blob.bin': randomBytes(3 << 20),
    }

    const destination = (
      tenantId: number,
      name: string,
      path: string,
      secret: Record<string, string>,
      endpoint = az.endpoint,
    ) =>
      saveDestination(
        { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
        tenantId,
        'azure',
        null,
        {
          name,
          settings: {
            accountName: DEV_ACCOUNT,
            container: CONTAINER,
            path,
            endpoint,
            accountKey: '',
            sasToken: '',
            ...secret,
          },
        },
      )
    const startJobs = () =>
      startRunner({ db: deps.db, handlers: jobHandlers(deps), pollMs: 100, onError: () => {} })

    beforeAll(async () => {
      scratch = mkdtempSync(join(tmpdir(), 'azure-runner-'))
      az = await startAzurite()
      await az.createContainer(CONTAINER)
      alice = await realTenant(deps, 'alice', files)
      homes.push(alice.home)
      runner = startJobs()
    }, 60_000)
    afterAll(async () => {
      await runner?.stop()
      await az?.stop()
      removeUsers()
      if (scratch) rmSync(scratch, { recursive: true, force: true })
      for (const home of homes) rmSync(home, { recursive: true, force: true })
    })

    it('backs up with the account key, restores through the panel, and stock restic reads a copy', async () => {
      const dest = destination(alice.tenant.id, 'Azure', 'backups/panel', { accountKey: DEV_KEY })
      const policyId = policy(deps, alice.tenant.id, [dest.id])
      const { job } = requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
      runner.wake()
      expect((await waitJob(deps, alice.tenant.id, job.id, 120_000)).status).toBe('done')
      expect(listRuns(deps.db, alice.tenant.id)[0]!.status).toBe('success')

      await restoreAndCompare(deps, runner, alice.tenant, dest, files)

      // restic 0.14 only reaches https://<account>.blob.core.windows.net, so it cannot open the
      // repository on Azurite directly: the kit says so, and stock restic opens a plain copy.
      const kit = recoveryKit(deps, alice.tenant, dest)
      expect(kit.repository).toBe('azure:panel:/backups/panel/alice')
      expect(kit.command).toContain(`AZURE_ACCOUNT_NAME='${DEV_ACCOUNT}'`)
      expect(kit.command).toContain(`AZURE_ACCOUNT_KEY='${DEV_KEY}'`)
      expect(kit.note).toMatch(/Stock restic cannot reach the custom endpoint/)
      const copy = join(scratch, 'copy')
      expect(await copyRepository(az, 'backups/panel/alice/', copy)).toBeGreaterThan(3)
      const target = join(scratch, 'stock-restore')
      const env = {
        PATH: process.env.PATH,
        RESTIC_REPOSITORY: copy,
        RESTIC_PASSWORD: kit.password,
        RESTIC_CACHE_DIR: join(scratch, 'cache'),
      }
      const res = spawnSync('restic', ['restore', 'latest', '--target', target], {
        env,
        encoding: 'utf8',
      })
      expect(res.status, res.stderr).toBe(0)
      for (const rel of Object.keys(files)) {
        expect(
          readFileSync(join(target, alice.home, rel)).equals(readFileSync(join(alice.home, rel))),
          rel,
        ).toBe(true)
      }
    }, 240_000)

    it('backs up with a SAS token, and no secret reaches restic, the database or the logs', async () => {
      writeFileSync(join(alice.home, 'big.bin'), randomBytes(24 << 20))
      chownSync(join(alice.home, 'big.bin'), alice.uid, alice.gid)
      const dest = destination(alice.tenant.id, 'Azure SAS', 'sas', { sasToken: sas })
      const policyId = policy(deps, alice.tenant.id, [dest.id], { name: 'With SAS' })
      const { job } = requestBackup(deps.db, alice.tenant.id, policyId, 'manual')
      runner.wake()
      const seen: ReturnType<typeof resticChildren> = []
      for (
        let job_ = job;
        job_.status !== 'done' && job_.status !== 'failed';
        job_ = getJob(deps.db, alice.tenant.id, job.id)
      ) {
        seen.push(...resticChildren())
        await sleep(20)
      }
      expect(getJob(deps.db, alice.tenant.id, job.id).status).toBe('done')
      expect(seen.length).toBeGreaterThan(0)
      const sig = new URLSearchParams(sas).get('sig')!
      const secrets = [DEV_KEY, sas, sig, encodeURIComponent(sig)]
      for (const p of seen) {
        for (const secret of secrets) {
          expect(p.cmdline).not.toContain(secret)
          expect(p.environ).not.toContain(secret)
        }
        expect(p.environ).not.toMatch(new RegExp(`AZURE_|127\\.0\\.0\\.1:${az.port}`))
        expect(p.environ).toMatch(/^RESTIC_REPOSITORY=rest:http:\/\/[^@]+@127\.0\.0\.1:\d+\/$/m)
      }
      const names: string[] = []
      for await (const blob of az.service
        .getContainerClient(CONTAINER)
        .listBlobsFlat({ prefix: 'sas/alice/' }))
        names.push(blob.name)
      expect(names).toContain('sas/alice/config')

      const stored = [deps.config.dbPath, `${deps.config.dbPath}-wal`]
        .filter((f) => existsSync(f))
        .map((f) => readFileSync(f))
      const text = JSON.stringify([
        deps.db.select().from(runLogs).all(),
        deps.db.select().from(runStages).all(),
        deps.db.select().from(runsTable).all(),
        deps.db.query.jobs.findMany().sync(),
      ])
      for (const secret of secrets) {
        for (const bytes of stored) expect(bytes.includes(secret)).toBe(false)
        expect(text).not.toContain(secret)
      }
    }, 240_000)

    it('survives Azurite dying mid-upload: nothing partial is visible, the backup resumes, restic check passes', async () => {
      const other = await startAzurite()
      try {
        await other.createContainer(CONTAINER)
        const bob = await realTenant(deps, 'bob', {
          'data/a.bin': randomBytes(24 << 20),
          'data/b.bin': randomBytes(24 << 20),
          'data/c.bin': randomBytes(24 << 20),
        })
        homes.push(bob.home)
        const dest = destination(
          bob.tenant.id,
          'Dies',
          'crash',
          { accountKey: DEV_KEY },
          other.endpoint,
        )
        const policyId = policy(deps, bob.tenant.id, [dest.id], { name: 'Crash' })
        const { job } = requestBackup(deps.db, bob.tenant.id, policyId, 'manual')
        runner.wake()
        const container = other.service.getContainerClient(CONTAINER)
        /** Every blob under crash/bob/ must hash to its name (restic names objects by SHA-256): none is partial. */
        const checkBlobs = async () => {
          let checked = 0
          for await (const b of container.listBlobsFlat({ prefix: 'crash/bob/' })) {
            if (b.name === 'crash/bob/config') continue
            const body = await container
              .getBlobClient(b.name)
              .downloadToBuffer()
              .catch((err) => {
                if (err?.statusCode === 404) return null // restic removed it meanwhile
                throw err
              })
            if (!body) continue
            expect(createHash('sha256').update(body).digest('hex'), b.name).toBe(
              b.name.split('/').at(-1),
            )
            checked++
          }
          return checked
        }
        // Kill it as soon as the first pack is being staged (its blocks show as an uncommitted
        // blob): about 70 MB are still to go, so the kill lands mid-upload.
        const deadline = Date.now() + 60_000
        for (;;) {
          const packs = []
          const listing = { prefix: 'crash/bob/data/', includeUncommitedBlobs: true }
          for await (const b of container.listBlobsFlat(listing)) packs.push(b)
          if (packs.length) break
          if (Date.now() > deadline) throw new Error('no pack was uploaded within 60 s')
          await sleep(25)
        }
        await other.kill()
        await sleep(10_000)
        const during = getJob(deps.db, bob.tenant.id, job.id)
        expect(during.status, `the backup ended before the kill: ${during.lastError}`).toBe(
          'running',
        )

        await other.restart()
        expect(await checkBlobs()).toBeGreaterThan(0) // the key file at least
        // restic retries what failed (the bridge answered 500 while Azurite was down) and finishes.
        expect((await waitJob(deps, bob.tenant.id, job.id, 240_000)).status).toBe('done')
        expect(await checkBlobs()).toBeGreaterThan(3)
        const { results } = await runVerify(deps, bob.tenant, {
          destinationId: dest.id,
          subset: '100%',
        })
        expect(results).toEqual([
          { destination: 'Dies', ok: true, message: expect.stringMatching(/healthy/) },
        ])
        expect(await listSnapshots(deps, bob.tenant, dest)).toHaveLength(1)

        // With the server down for good, the next run fails with a plain reason and is retried later.
        await other.kill()
        const again = requestBackup(deps.db, bob.tenant.id, policyId, 'manual')
        runner.wake()
        let current = getJob(deps.db, bob.tenant.id, again.job.id)
        for (const end = Date.now() + 60_000; !current.lastError && Date.now() < end;) {
          await sleep(100)
          current = getJob(deps.db, bob.tenant.id, again.job.id)
        }
        expect(current.status).toBe('queued')
        expect(current.lastError).toBe(`Dies: connection refused by 127.0.0.1:${other.port}`)
        const run = listRuns(deps.db, bob.tenant.id).find((r) => r.jobId === again.job.id)!
        expect(run).toMatchObject({
          status: 'failed',
          error: `Dies: connection refused by 127.0.0.1:${other.port}`,
        })
        await runner.stop() // the last test: no more retries against a dead server
      } finally {
        await other.stop()
      }
    }, 420_000)
  },
)
