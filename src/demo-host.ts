import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { Readable } from 'node:stream'
import type { DbConn } from './db/tenants.ts'
import { loadDump } from './engine/host/dumps.ts'
import { isRoot, lookupUser } from './engine/host/isolation.ts'

// What PANEL_DEMO=1 sets up on the host so demo tenants really back up: a system user per
// tenant (as root the runner never reads tenant files as root) and a sample MariaDB database.

/** The panel's own MariaDB login: root over the default local socket (Debian: unix_socket). */
export const LOCAL_MARIADB: DbConn = {
  engine: 'mariadb',
  name: 'mysql',
  host: null,
  port: null,
  username: null,
  password: null,
}

/**
 * As root: creates the system user `panel-<tenant>` (no home made, no login shell) if missing
 * and gives it `home`, contents included. Returns the user's name, or '' when not root (the
 * runner then reads tenant files as the panel's own user).
 */
export function ensureDemoUser(tenant: string, home: string): string {
  if (!isRoot()) return ''
  const user = `panel-${tenant}`
  if (!lookupUser(user)) {
    const args = ['--system', '--no-create-home', '--home-dir', home]
    execFileSync('useradd', [...args, '--shell', '/usr/sbin/nologin', user])
  }
  const { uid, gid } = lookupUser(user)!
  // -h: a link is changed itself, never what it points to (the seed writes none).
  execFileSync('chown', ['-R', '-h', `${uid}:${gid}`, home])
  return user
}

export type DemoDatabase = { name: string; username: string; password: string }

/**
 * Creates (or refreshes) the database `name` with a small `orders` table and a login of the same
 * name with a new random password, ALL on that database only, through `admin` (a login allowed
 * to create databases and users). Safe to run again: nothing is dropped. Throws when the server
 * cannot be reached or refuses; the SQL goes on stdin, the password never in argv.
 */
export async function ensureDemoDatabase(
  admin: DbConn,
  name: string,
  workDir: string,
): Promise<DemoDatabase> {
  const password = randomBytes(12).toString('base64url')
  const db = `\`${name}\``
  const accounts = [`'${name}'@'localhost'`, `'${name}'@'%'`]
  const sql = [
    `CREATE DATABASE IF NOT EXISTS ${db};`,
    ...accounts.flatMap((a) => [
      `CREATE USER IF NOT EXISTS ${a} IDENTIFIED BY '${password}';`,
      `ALTER USER ${a} IDENTIFIED BY '${password}';`,
      `GRANT ALL ON ${db}.* TO ${a};`,
    ]),
    `CREATE TABLE IF NOT EXISTS ${db}.orders (id INT PRIMARY KEY, total DECIMAL(10,2));`,
    `INSERT IGNORE INTO ${db}.orders VALUES (1, 19.90), (2, 5.00);`,
  ].join('\n')
  mkdirSync(workDir, { recursive: true, mode: 0o711 })
  await loadDump(admin, Readable.from([sql]), { workDir, runAs: null, create: false })
  return { name, username: name, password }
}
