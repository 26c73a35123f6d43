import { mkdirSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Config } from './config.ts'
import type { Db } from './db/client.ts'
import { firstAdmin, insertAdmin } from './db/users.ts'
import { createLoginLink } from './auth/login-link.ts'
import { findTenantByName, type DbConn } from './db/tenants.ts'
import { createTenant } from './domain/tenants.ts'
import { assignDatabase } from './domain/databases.ts'
import { ensureDemoDatabase, ensureDemoUser, LOCAL_MARIADB } from './demo-host.ts'

export function panelUrl(config: Config): string {
  return (
    config.baseUrl ??
    `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`
  )
}

/**
 * First start: creates the `admin` account without a password and returns the path of a
 * one-time sign-in link. Also returns a fresh link while the admin has never set a password.
 */
export async function ensureAdmin(db: Db): Promise<string | null> {
  const admin = (await firstAdmin(db)) ?? (await insertAdmin(db, 'admin', null))
  if (admin.passwordHash) return null
  return `/login/link/${await createLoginLink(db, admin.id)}`
}

const demoSites: Record<string, Record<string, string>> = {
  'public_html/index.html': {
    text: '<!doctype html><title>My shop</title><h1>Welcome to my shop</h1>\n',
  },
  'public_html/about/index.html': {
    text: '<!doctype html><title>About</title><p>Family business since 1998.</p>\n',
  },
  'public_html/wp-content/uploads/2026/logo.svg': {
    text: '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>\n',
  },
  'public_html/cache/page-1.html': { text: 'cached page\n' },
  'logs/access.log': {
    text: '127.0.0.1 - - [22/Nov/2026:03:00:00 +0000] "GET / HTTP/1.1" 200 512\n',
  },
  'db-dumps/shop.sql': {
    text: 'CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(10,2));\nINSERT INTO orders VALUES (1, 19.90), (2, 5.00);\n',
  },
}

/** ensureDemoUser, or '' and one line when useradd fails (the panel still starts). */
function demoUser(name: string, home: string, log: (line: string) => void): string {
  try {
    return ensureDemoUser(name, home)
  } catch (err) {
    log(`Demo tenant "${name}" gets no system user: ${(err as Error).message.split('\n')[0]}`)
    return ''
  }
}

export type DemoOptions = {
  /** The login that creates the demo databases; default root over the local socket. */
  mariadb?: DbConn
  /** Where a line about what could not be set up goes; default console.log. */
  log?: (line: string) => void
}

/**
 * PANEL_DEMO=1: two tenants with sample sites, ready to back up; returns their passwords. As
 * root each gets its own system user (`panel-demo-alice`), owner of its home. Each gets a
 * MariaDB database with a login of its own when the panel can create them (a local MariaDB it
 * may administer); otherwise none, said in one line. Tenants that exist are left alone.
 */
export async function seedDemo(
  db: Db,
  config: Config,
  opts: DemoOptions = {},
): Promise<{ name: string; password: string }[]> {
  const log = opts.log ?? console.log
  const created: { name: string; password: string }[] = []
  let databases = true
  for (const name of ['demo-alice', 'demo-bob']) {
    if (await findTenantByName(db, name)) continue
    const home = join(config.dataDir, 'demo-homes', name)
    for (const [rel, { text }] of Object.entries(demoSites)) {
      const file = join(home, rel)
      mkdirSync(join(file, '..'), { recursive: true })
      if (!existsSync(file)) writeFileSync(file, text.replace('My shop', `${name}'s shop`))
    }
    const password = randomBytes(9).toString('base64url')
    const tenant = await createTenant(db, {
      name,
      password,
      homeDir: home,
      systemUser: demoUser(name, home, log),
      timezone: 'Europe/Berlin',
    })
    const admin = opts.mariadb ?? LOCAL_MARIADB
    const dbName = `${name.replace('-', '_')}_shop`
    const made = databases
      ? await ensureDemoDatabase(admin, dbName, config.workDir).catch((err: Error) => {
          databases = false
          log(`Demo tenants get no database: MariaDB could not create one (${err.message}).`)
          return null
        })
      : null
    if (made) {
      await assignDatabase(db, config.secretKey, tenant.id, {
        engine: 'mariadb',
        name: made.name,
        host: admin.host ?? '',
        port: admin.port === null ? '' : String(admin.port),
        username: made.username,
        password: made.password,
      })
    }
    created.push({ name, password })
  }
  return created
}
