import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
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
import { requestBackup } from '../../src/domain/jobs.ts'
import { tenantUser } from '../../src/db/tenants.ts'
import { createSession, generateSessionToken } from '../../src/auth/session.ts'
import { listSnapshots, type Snapshot } from '../../src/engine/restic/snapshots.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { startRunner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import type { Destination } from '../../src/db/schema.ts'

const LIMIT_LINE = 'A download is already running: wait for it to finish, then try again.'
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))

/** Every process below `pid` (the panel and what it started), from /proc. */
function descendants(pid: number): { pid: number; comm: string; args: string }[] {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
        const end = stat.lastIndexOf(')')
        const comm = stat.slice(stat.indexOf('(') + 1, end)
        const ppid = Number(stat.slice(end + 2).split(' ')[1])
        const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ')
        return [{ pid: Number(d), ppid, comm, args }]
      } catch {
        return [] // exited meanwhile
      }
    })
  const found: { pid: number; comm: string; args: string }[] = []
  const walk = (p: number) => {
    for (const c of all.filter((x) => x.ppid === p)) {
      found.push(c)
      walk(c.pid)
    }
  }
  walk(pid)
  return found
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 5_000) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`still not true after ${ms} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe.runIf(rootAvailable())('downloads from a snapshot against a real `panel serve`', () => {
  const deps = freshDeps()
  const big = randomBytes(48 * 1024 * 1024)
  const temps: string[] = []
  let server: Panel
  let t: Awaited<ReturnType<typeof realTenant>>
  let dest: Destination
  let snap: Snapshot
  let cookie = ''
  let api: { key: string; token: string }

  beforeAll(async () => {
    t = await realTenant(deps, 'dana', {
      'docs/readme.txt': 'hello\n',
      'docs/café ü.txt': 'unicode name\n',
      'docs/logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
      'big/random.bin': big,
      'bigé/random.bin': big,
      'odd/cafe.txt': 'plain e\n',
      'der/other.txt': 'other folder\n',
    })
    // Names that are not UTF-8 (Latin-1 é = 0xe9), written as the bytes they are.
    const home = Buffer.from(t.home)
    const put = (rel: Buffer, data: string) => {
      const path = Buffer.concat([home, Buffer.from('/'), rel])
      writeFileSync(path, data)
      chownSync(path, t.uid, t.gid)
    }
    const dir = (rel: Buffer) => {
      const path = Buffer.concat([home, Buffer.from('/'), rel])
      mkdirSync(path)
      chownSync(path, t.uid, t.gid)
    }
    renameSync(bytes(`${t.home}/bigé`), Buffer.concat([home, bytes('/big', [0xe9])]))
    put(bytes('odd/caf', [0xe9], '.txt'), 'latin-1 name\n')
    put(bytes('odd/x[1]*?\\', [0xe9], '.txt'), 'glob characters\n')
    dir(bytes('d', [0xe9], 'r'))
    dir(bytes('d', [0xe9], 'r/sub'))
    put(bytes('d', [0xe9], 'r/sub/inner.txt'), 'inside\n')
    dir(bytes('twins'))
    put(bytes('twins/n', [0xe9]), 'one\n')
    put(bytes('twins/n', [0xe8]), 'two\n')

    dest = await localDestination(deps, t.tenant.id)
    const policyId = await policy(deps, t.tenant.id, [dest.id])
    const runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    try {
      const { job } = await requestBackup(deps.db, t.tenant.id, policyId, 'manual')
      runner.wake()
      expect((await waitJob(deps, t.tenant.id, job.id)).status).toBe('done')
    } finally {
      await runner.stop()
    }
    snap = (await listSnapshots(deps, t.tenant, dest))[0]!
    const token = generateSessionToken()
    await createSession(deps.db, token, (await tenantUser(deps.db, t.tenant.id))!.id)
    cookie = `panel_session=${token}`
    const { key } = await createApiKey(deps.db, t.tenant.id, 'nas', { actor: 'dana' })
    const issued = await issueBackupToken(
      deps,
      t.tenant,
      (await tenantUser(deps.db, t.tenant.id))!,
      { confirm: 'create', password: PASSWORD },
      { actor: 'dana' },
    )
    api = { key, token: issued.token }
    server = await servePanel(deps, { PANEL_RUNNER: '0' })
  }, 180_000)

  afterAll(async () => {
    await stopPanel(server)
    removeUsers()
    for (const d of temps) rmSync(d, { recursive: true, force: true })
  })

  const webUrl = (path: string) =>
    `${server.url}/backups/restore/${dest.id}/${snap.id}/download?path=${encodeURIComponent(path)}`
  const apiUrl = (path?: string, id = snap.id) =>
    `${server.url}/api/v1/snapshots/${id}/download${path === undefined ? '' : `?path=${encodeURIComponent(path)}`}`
  const web = (path: string, init: RequestInit = {}) =>
    fetch(webUrl(path), { ...init, redirect: 'manual', headers: { cookie } })
  const apiGet = (url: string, init: RequestInit = {}) =>
    fetch(url, {
      ...init,
      headers: { authorization: `Bearer ${api.key}`, 'x-backup-token': api.token },
    })
  const home = () => t.home
  const restic = () => descendants(server.proc.pid!).filter((p) => p.comm === 'restic')
  const helpers = () =>
    descendants(server.proc.pid!).filter((p) =>
      ['restic', 'sh', 'find', 'tar', 'cat'].includes(p.comm),
    )
  const staging = () => readdirSync(join(deps.config.workDir, 'dana', 'restore'))
  async function locks(): Promise<string[]> {
    const kit = await recoveryKit(deps, t.tenant, dest)
    const env = {
      PATH: process.env.PATH!,
      RESTIC_REPOSITORY: kit.repository,
      RESTIC_PASSWORD: kit.password,
    }
    const res = spawnSync('restic', ['list', 'locks', '--no-lock', '--no-cache'], {
      env,
      encoding: 'utf8',
    })
    expect(res.status, res.stderr).toBe(0)
    return res.stdout.split('\n').filter(Boolean)
  }
  function tarList(tar: Buffer): Buffer[] {
    const res = spawnSync('tar', ['-t', '--quoting-style=literal'], { input: tar })
    expect(res.status, res.stderr.toString()).toBe(0)
    return res.stdout
      .toString('latin1')
      .split('\n')
      .filter(Boolean)
      .map((n) => Buffer.from(n, 'latin1'))
  }
  async function stillServing() {
    expect(server.proc.exitCode, server.output()).toBeNull()
    const res = await fetch(`${server.url}/login`)
    expect(res.status).toBe(200)
    const file = await web(`${home()}/docs/readme.txt`)
    expect(file.status).toBe(200)
    expect(await file.text()).toBe('hello\n')
  }

  it('a path the snapshot does not hold is a 404 (page and JSON), and the panel keeps serving', async () => {
    const page = await web(`${home()}/docs/missing.txt`)
    expect(page.status).toBe(404)
    expect(page.headers.get('content-type')).toContain('text/html')
    expect(await page.text()).toContain('does not exist')
    const json = await apiGet(apiUrl('docs/missing.txt'))
    expect(json.status).toBe(404)
    expect((await json.json()).error.code).toBe('not_found')
    // Before the fix the process died on an unhandled 'error' event right after answering.
    await new Promise((r) => setTimeout(r, 1_000))
    await stillServing()
    expect(restic()).toEqual([])
  })

  it('a file downloads as itself: its own name (RFC 5987 for non-ASCII) and type', async () => {
    const readme = await web(`${home()}/docs/readme.txt`)
    expect(readme.status).toBe(200)
    expect(readme.headers.get('content-type')).toBe('text/plain')
    expect(readme.headers.get('content-disposition')).toBe('attachment; filename="readme.txt"')
    expect(await readme.text()).toBe('hello\n')

    const accented = await web(`${home()}/docs/café ü.txt`)
    expect(accented.headers.get('content-disposition')).toBe(
      `attachment; filename="caf_ _.txt"; filename*=UTF-8''caf%C3%A9%20%C3%BC.txt`,
    )
    expect(await accented.text()).toBe('unicode name\n')

    const logo = await apiGet(apiUrl('docs/logo.png'))
    expect(logo.status).toBe(200)
    expect(logo.headers.get('content-type')).toBe('image/png')
    expect(logo.headers.get('content-disposition')).toBe('attachment; filename="logo.png"')
    expect(Buffer.from(await logo.arrayBuffer())).toEqual(
      readFileSync(join(home(), 'docs/logo.png')),
    )

    const viaApi = await apiGet(apiUrl(`${home()}/docs/café ü.txt`))
    expect(viaApi.headers.get('content-disposition')).toContain(
      `filename*=UTF-8''caf%C3%A9%20%C3%BC.txt`,
    )
    expect(await viaApi.text()).toBe('unicode name\n')
  })

  it('a folder downloads as a .tar of that folder', async () => {
    for (const res of [await web(`${home()}/docs`), await apiGet(apiUrl('docs'))]) {
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/x-tar')
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="dana-${snap.time.slice(0, 10)}-${snap.shortId}-docs.tar"`,
      )
      const names = tarList(Buffer.from(await res.arrayBuffer())).map((n) => n.toString())
      expect(names.sort()).toEqual(
        ['café ü.txt', 'logo.png', 'readme.txt'].map((n) => `${home().slice(1)}/docs/${n}`),
      )
    }
  })

  it('a file or folder whose name is not UTF-8 downloads byte for byte, as the tenant, leaving no staging folder', async () => {
    // What a panel that died mid-download left behind, with a folder restored read-only.
    const leftover = join(deps.config.workDir, 'dana', 'restore', 'download-0123456789abcdef')
    mkdirSync(join(leftover, 'ro'), { recursive: true })
    writeFileSync(join(leftover, 'ro', 'f'), 'x')
    execFileSync('chown', ['-R', `${t.uid}:${t.gid}`, leftover])
    execFileSync('chmod', ['0500', join(leftover, 'ro')])
    expect(staging()).toEqual(['download-0123456789abcdef'])

    const file = await web(`${home()}/odd/caf\uFFFD.txt`)
    expect(file.status, await file.clone().text()).toBe(200)
    // The pattern caf?.txt also restores odd/cafe.txt: only the right file is sent.
    expect(await file.text()).toBe('latin-1 name\n')
    expect(file.headers.get('content-disposition')).toContain(`filename*=UTF-8''caf%EF%BF%BD.txt`)

    const globby = await apiGet(apiUrl(`odd/x[1]*?\\\uFFFD.txt`))
    expect(globby.status).toBe(200)
    expect(await globby.text()).toBe('glob characters\n')

    const folder = await web(`${home()}/d\uFFFDr`)
    expect(folder.status).toBe(200)
    expect(folder.headers.get('content-type')).toBe('application/x-tar')
    const tar = Buffer.from(await folder.arrayBuffer())
    const inner = Buffer.concat([
      Buffer.from(`${home().slice(1)}/d`),
      Buffer.from([0xe9]),
      Buffer.from('r/sub/inner.txt'),
    ])
    expect(tarList(tar).some((n) => n.equals(inner))).toBe(true)
    expect(tarList(tar).some((n) => n.toString().includes('other.txt'))).toBe(false)
    const out = mkdtempSync(join(tmpdir(), 'dl-lossy-'))
    temps.push(out)
    execFileSync('tar', ['-x', '-C', out], { input: tar })
    expect(readFileSync(Buffer.concat([Buffer.from(out + '/'), inner])).toString()).toBe('inside\n')

    // Two names that read the same once their bytes are lost: refused, not guessed.
    const twins = await web(`${home()}/twins/n\uFFFD`)
    expect(twins.status).toBe(409)
    expect(await twins.text()).toContain('download the folder that holds them')
    await waitFor('staging folders removed', () => staging().length === 0)
  })

  it('a client that goes away stops restic within seconds and leaves no lock', async () => {
    // After the first bytes: the browser cancels a running download.
    const abort = new AbortController()
    const res = await web(`${home()}/big`, { signal: abort.signal })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    expect((await reader.read()).value!.length).toBeGreaterThan(0)
    expect(restic().length).toBe(1)
    abort.abort()
    await waitFor('restic gone after a cancelled download', () => restic().length === 0)
    expect(await locks()).toEqual([])

    // Before the first bytes (curl -m): the answer is not even ready when the client leaves.
    const curl = spawn('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-m',
      '0.3',
      '-H',
      `Cookie: ${cookie}`,
      webUrl(`${home()}/big`),
    ])
    await new Promise((r) => curl.once('exit', r))
    await new Promise((r) => setTimeout(r, 1_500)) // restic has started and produced by now
    await waitFor('restic gone after curl -m', () => restic().length === 0)
    expect(await locks()).toEqual([])

    // A folder whose name is not UTF-8 streams from a staging folder (the tenant's): it goes too.
    const cancel = new AbortController()
    const lossy = await web(`${home()}/big\uFFFD`, { signal: cancel.signal })
    expect(lossy.status).toBe(200)
    await lossy.body!.getReader().read()
    expect(staging()).toHaveLength(1)
    expect(statSync(join(deps.config.workDir, 'dana', 'restore', staging()[0]!)).uid).toBe(t.uid)
    cancel.abort()
    await waitFor(
      'no helper process, no staging folder after an aborted download',
      () => helpers().length === 0 && staging().length === 0,
    )
    await stillServing()
  })

  it('a tenant runs at most two downloads at once; the third is a 429, and slots come back', async () => {
    const held = [new AbortController(), new AbortController()]
    for (const a of held) {
      const res = await web(`${home()}/big`, { signal: a.signal })
      expect(res.status).toBe(200)
      await res.body!.getReader().read()
    }
    const third = await web(`${home()}/docs/readme.txt`)
    expect(third.status).toBe(429)
    expect(await third.text()).toContain(LIMIT_LINE)
    const viaApi = await apiGet(apiUrl('docs/readme.txt'))
    expect(viaApi.status).toBe(429)
    expect((await viaApi.json()).error).toEqual({ code: 'limit_reached', message: LIMIT_LINE })
    for (const a of held) a.abort()
    await waitFor(
      'slots released',
      async () => (await web(`${home()}/docs/readme.txt`)).status === 200,
    )
    // Refused downloads hold no slot.
    for (let i = 0; i < 3; i++) expect((await web(`${home()}/docs/missing.txt`)).status).toBe(404)
    // Finished downloads hold none.
    for (let i = 0; i < 3; i++) {
      const done = await web(`${home()}/docs/readme.txt`)
      expect([done.status, await done.text()]).toEqual([200, 'hello\n'])
    }
    await waitFor('restic gone', () => restic().length === 0)
  })
})
