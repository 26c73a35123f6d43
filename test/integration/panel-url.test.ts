import { afterAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { desc, eq } from 'drizzle-orm'
import { freshDeps } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
} from '../support/tenants.ts'
import { notifications, tenants } from '../../src/db/schema.ts'
import { listeningUrl, panelOrigin, storedPanelUrl } from '../../src/db/panel-url.ts'

describe.runIf(rootAvailable())('the panel’s own address in notices', () => {
  const deps = freshDeps()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PANEL_DATA_DIR: deps.config.dataDir,
    PANEL_SECRET_KEY: deps.config.secretKey.toString('hex'),
  }
  delete env.PORT
  delete env.HOST
  delete env.PANEL_BASE_URL
  let tenantId = 0
  afterAll(removeUsers)

  /** Starts the real `panel serve` on a free port, waits until it listens, stops it. */
  async function serveOnce(): Promise<number> {
    const child = spawn('node', ['src/bin.js', 'serve'], {
      env: { ...env, HOST: '127.0.0.1', PORT: '0', PANEL_RUNNER: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const found = out.match(/Panel listening on http:\/\/127\.0\.0\.1:(\d+)/)
        if (found) resolve(Number(found[1]))
      })
      child.on('exit', (code) => reject(new Error(`panel serve exited (${code}): ${out}`)))
    })
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    await exited
    return port
  }

  /** `panel backup <tenant> --wait` as its own process: its runner builds the notice. */
  async function backupFromCli(extra: Record<string, string> = {}) {
    const res = spawnSync('node', ['src/bin.js', 'backup', 'urlt', '--wait'], {
      env: { ...env, ...extra },
      encoding: 'utf8',
    })
    expect(res.stderr).toBe('')
    expect(res.status).toBe(0)
    const row = (
      await deps.db
        .select()
        .from(notifications)
        .where(eq(notifications.tenantId, tenantId))
        .orderBy(desc(notifications.id))
    )[0]!
    expect(row).toMatchObject({ channel: 'email', event: 'backup.success' })
    return row.body
  }

  it('is stored by `panel serve` as it listens, and used by a CLI --wait run', async () => {
    const { tenant } = await realTenant(deps, 'urlt', { 'site/index.html': 'hello\n' })
    tenantId = tenant.id
    await deps.db
      .update(tenants)
      .set({ notifyMode: 'every', notifyEmail: 'owner@example.com' })
      .where(eq(tenants.id, tenant.id))
    await policy(deps, tenant.id, [(await localDestination(deps, tenant.id)).id])

    const port = await serveOnce()
    expect(port).not.toBe(3000)
    expect(await storedPanelUrl(deps.db)).toBe(`http://127.0.0.1:${port}`)

    const body = await backupFromCli()
    expect(body).toMatch(new RegExp(`http://127\\.0\\.0\\.1:${port}/backups/runs/\\d+`))
    expect(body).not.toContain(':3000')
  })

  it('PANEL_BASE_URL wins over the stored address', async () => {
    const body = await backupFromCli({ PANEL_BASE_URL: 'https://panel.example.com' })
    expect(body).toMatch(/https:\/\/panel\.example\.com\/backups\/runs\/\d+/)
    expect(body).not.toContain('127.0.0.1')
  })

  it('serve stores PANEL_BASE_URL when set; a wildcard HOST becomes this host’s name', async () => {
    const base = { baseUrl: 'https://panel.example.com', host: '0.0.0.0' }
    expect(listeningUrl(base, 8080)).toBe('https://panel.example.com')
    expect(listeningUrl({ baseUrl: null, host: '0.0.0.0' }, 8080)).toMatch(/^http:\/\/[^:]+:8080$/)
    expect(listeningUrl({ baseUrl: null, host: '::1' }, 8080)).toBe('http://[::1]:8080')
    const config = { baseUrl: null, host: '127.0.0.1', port: 3000 }
    expect(await panelOrigin(freshDeps().db, config)).toBe('http://127.0.0.1:3000')
  })
})
