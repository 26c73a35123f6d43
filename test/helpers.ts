import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { loadConfig } from '../src/config.ts'
import { openDb } from '../src/db/client.ts'
import { connectPostgres } from '../src/db/pg.ts'
import { execFileSync } from 'node:child_process'
import { closePostgres, isPostgres, rows } from '../src/db/dialect.ts'
import { afterAll } from 'vitest'
import { drivers, type Registry } from '../src/drivers/registry.ts'
import { createTenant } from '../src/domain/tenants.ts'
import { createApp } from '../src/web/app.tsx'
import type { Deps } from '../src/web/context.ts'

export const ORIGIN = 'http://localhost'
export const PASSWORD = 'correct horse battery'

/**
 * A fresh data directory and database for one test file: a SQLite file, or with
 * `PANEL_TEST_DB=postgres` a database of its own on the run's PostgreSQL (ready before the
 * file's first test; test/global-postgres.ts starts the server).
 */
export function freshDeps(extra: { drivers?: Registry; env?: Record<string, string> } = {}): Deps {
  const dir = mkdtempSync(join(tmpdir(), 'panel-test-'))
  const pg = postgresDatabase()
  const config = loadConfig({
    PANEL_DATA_DIR: dir,
    PANEL_SECRET_KEY: randomBytes(32).toString('hex'),
    ...(pg ? { PANEL_DATABASE_URL: pg } : {}),
    ...extra.env,
  })
  if (!pg) return { db: openDb(config.dbPath), config, drivers: extra.drivers ?? drivers }
  // Processes the test starts (`panel runner`, the CLI) find the same database.
  process.env.PANEL_DATABASE_URL = pg
  const db = connectPostgres(pg)
  afterAll(() => closePostgres(db))
  return { db, config, drivers: extra.drivers ?? drivers }
}

/** With PANEL_TEST_DB=postgres: a new database for this test file, a copy of the migrated template. */
export function postgresDatabase(): string | null {
  if (process.env.PANEL_TEST_DB !== 'postgres') return null
  const server = process.env.PANEL_TEST_PG
  if (!server) throw new Error('PANEL_TEST_DB=postgres needs test/global-postgres.ts (vitest run)')
  const url = new URL(server)
  const name = `t_${randomBytes(6).toString('hex')}`
  execFileSync(
    'psql',
    ['-X', '-q', '-h', url.hostname, '-p', url.port, '-U', url.username, '-d', 'panel_template'],
    {
      input: `CREATE DATABASE ${name} TEMPLATE panel_template`,
      env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) },
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  )
  return `${server}/${name}`
}

export async function addTenant(deps: Deps, name: string) {
  return createTenant(deps.db, {
    name,
    password: PASSWORD,
    homeDir: `/home/${name}`,
    systemUser: '',
    timezone: 'UTC',
  })
}

type PostOptions = {
  origin?: string | null
  csrf?: 'field' | 'header' | 'none' | string
  htmx?: boolean
}

/** A browser-like client over app.request(): keeps cookies and the page's CSRF token. */
export class Client {
  cookies = new Map<string, string>()
  token = ''
  app: ReturnType<typeof createApp>
  /** The socket address requests seem to come from (as @hono/node-server reports it); none by default. */
  address?: string

  constructor(readonly deps: Deps) {
    this.app = createApp(deps)
  }

  private async send(path: string, init: RequestInit & { headers: Record<string, string> }) {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    if (cookie) init.headers.cookie = cookie
    const peer = this.address && { incoming: { socket: { remoteAddress: this.address } } }
    const res = await this.app.request(path, init, peer || undefined)
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const [name, ...value] = pair!.split('=')
      const expired = attrs.some(
        (a) => /max-age=0/i.test(a.trim()) || /expires=Thu, 01 Jan 1970/i.test(a.trim()),
      )
      if (expired) this.cookies.delete(name!.trim())
      else this.cookies.set(name!.trim(), value.join('='))
    }
    const body = await res.text()
    const found =
      body.match(/name="_csrf" value="([^"]+)"/) ??
      body.match(/x-csrf-token&quot;:&quot;([^&]+)&quot;/)
    if (found) this.token = found[1]!
    return { status: res.status, headers: res.headers, body, location: res.headers.get('location') }
  }

  get(path: string, headers: Record<string, string> = {}) {
    return this.send(path, { method: 'GET', headers })
  }

  /** POSTs a form like the panel's pages do; options break the request for CSRF tests. */
  async post(path: string, form: Record<string, string | string[]>, opts: PostOptions = {}) {
    if (!this.token || !this.cookies.has('panel_csrf')) await this.get('/login')
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(form)) for (const item of [v].flat()) body.append(k, item)
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
    if (opts.origin !== null) headers.origin = opts.origin ?? ORIGIN
    const csrf = opts.csrf ?? 'field'
    if (csrf === 'field') body.append('_csrf', this.token)
    else if (csrf === 'header') headers['x-csrf-token'] = this.token
    else if (csrf !== 'none') body.append('_csrf', csrf)
    if (opts.htmx) headers['hx-request'] = 'true'
    return this.send(path, { method: 'POST', headers, body: body.toString() })
  }

  async login(username: string, password = PASSWORD) {
    await this.get('/login')
    const res = await this.post('/login', { username, password })
    await this.get(res.location ?? '/')
    return res
  }
}

/**
 * Everything the panel's database holds, as bytes to search for a secret: the SQLite file with
 * its WAL, or on PostgreSQL every row of every table as text.
 */
export async function storedBytes(deps: Deps): Promise<Buffer> {
  if (isPostgres(deps.db)) {
    const tables = await rows<{ name: string }>(
      deps.db,
      sql`select table_name as name from information_schema.tables where table_schema = 'public'`,
    )
    const all = []
    for (const t of tables)
      all.push(await rows(deps.db, sql`select * from ${sql.identifier(t.name)}`))
    return Buffer.from(JSON.stringify(all))
  }
  const files = ['', '-wal', '-shm'].map((ext) => deps.config.dbPath + ext)
  return Buffer.concat(files.filter((f) => existsSync(f)).map((f) => readFileSync(f)))
}
