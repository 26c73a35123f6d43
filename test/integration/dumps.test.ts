import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, chmodSync, chownSync, constants, createReadStream, existsSync } from 'node:fs'
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PassThrough } from 'node:stream'
import { countTables, dumpDatabase, loadDump } from '../../src/engine/host/dumps.ts'
import type { DbConn } from '../../src/db/tenants.ts'
import { ConflictError } from '../../src/errors.ts'
import { requireMariaDb, startMariaDb } from '../services/mariadb.ts'
import { requirePostgres, startPostgres } from '../services/postgres.ts'

type Server = Awaited<ReturnType<typeof startMariaDb | typeof startPostgres>>

const DB = 'we$ird-db'
const USER = 'shop'
// '#', quotes, backslash, ':' and a trailing space: each needs escaping in an option/pass file.
const PASSWORD = `p#ss "w0rd" \\ 'x' :${randomBytes(4).toString('hex')} `
// Every byte value, as the hex both engines print.
const BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex')

/** What differs between the engines; the scenarios below are the same for both. */
type Engine = {
  engine: DbConn['engine']
  available: boolean
  start(): Promise<Server>
  tools: { dump: string; client: string; pkg: string }
  /** Two tables (one oddly named), every byte value, quotes, a newline, and a trigger. */
  seed(server: Server): Promise<void>
  /** All rows of both tables as text. */
  rows(server: Server, db: string): Promise<string>
  /** Inserts a lowercase label and returns it as stored, so a restored trigger shows. */
  triggered(server: Server, db: string): Promise<string>
  allowCreate(server: Server, db: string): Promise<void>
  authFailure: RegExp
}

const engines: Engine[] = [
  {
    engine: 'mariadb',
    available: requireMariaDb(),
    start: startMariaDb,
    tools: { dump: 'mariadb-dump', client: 'mariadb', pkg: 'mariadb-client' },
    seed: async (server) => {
      await server.sql(
        `CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(200), data BLOB);
        INSERT INTO items VALUES (1, 'plain', 0x${BYTES}),
          (2, 'quote '' backslash \\\\ ünïcødé', NULL), (3, 'line\nbreak', '');
        CREATE TABLE \`odd-name$\` (k VARCHAR(10) PRIMARY KEY, v TEXT);
        INSERT INTO \`odd-name$\` VALUES ('a', 'x'), ('b', 'y');
        CREATE DEFINER = '${USER}'@'%' TRIGGER upper_label BEFORE INSERT ON items
          FOR EACH ROW SET NEW.label = UPPER(NEW.label);`,
        DB,
      )
    },
    rows: (server, db) =>
      server.sql(
        'SELECT id, label, HEX(data) FROM items ORDER BY id; SELECT * FROM `odd-name$` ORDER BY k',
        db,
      ),
    triggered: async (server, db) =>
      (
        await server.sql(
          "INSERT INTO items (id, label) VALUES (9, 'lower'); SELECT label FROM items WHERE id = 9",
          db,
        )
      ).trim(),
    allowCreate: async (server, db) => {
      await server.sql(`GRANT ALL ON \`${db}\`.* TO '${USER}'@'%'`)
    },
    authFailure: /^mariadb-dump failed: .*Access denied for user 'shop'@'127\.0\.0\.1'/,
  },
  {
    engine: 'postgresql',
    available: requirePostgres(),
    start: startPostgres,
    tools: { dump: 'pg_dump', client: 'psql', pkg: 'postgresql-client' },
    seed: async (server) => {
      await server.sql(
        `SET ROLE ${USER};
        CREATE TABLE items (id int PRIMARY KEY, label text, data bytea);
        INSERT INTO items VALUES (1, 'plain', '\\x${BYTES}'),
          (2, E'quote '' backslash \\\\ ünïcødé', NULL), (3, E'line\\nbreak', '');
        CREATE TABLE "odd-name$" (k text PRIMARY KEY, v text);
        INSERT INTO "odd-name$" VALUES ('a', 'x'), ('b', 'y');
        CREATE FUNCTION upper_label() RETURNS trigger LANGUAGE plpgsql
          AS $$ BEGIN NEW.label := upper(NEW.label); RETURN NEW; END $$;
        CREATE TRIGGER upper_label BEFORE INSERT ON items
          FOR EACH ROW EXECUTE FUNCTION upper_label();`,
        DB,
      )
    },
    rows: (server, db) =>
      server.sql(
        `SELECT id, label, encode(data, 'hex') FROM items ORDER BY id;
        SELECT * FROM "odd-name$" ORDER BY k`,
        db,
      ),
    triggered: async (server, db) =>
      (
        await server.sql(
          "INSERT INTO items (id, label) VALUES (9, 'lower'); SELECT label FROM items WHERE id = 9",
          db,
        )
      ).trim(),
    allowCreate: async (server) => {
      await server.sql(`ALTER ROLE ${USER} CREATEDB`)
    },
    authFailure: /^pg_dump failed: .*password authentication failed for user "shop"/,
  },
]

const dirs: string[] = []
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'panel-dumps-'))
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

/** Calls `fn` with `bin` first on PATH, where the dump code looks its tools up. */
async function withPath<T>(bin: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH
  process.env.PATH = `${bin}:${saved}`
  try {
    return await fn()
  } finally {
    process.env.PATH = saved
  }
}

function which(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not on PATH`)
}

/** The error `promise` rejects with; fails the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  throw new Error('Expected a rejection')
}

function script(dir: string, name: string, body: string) {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 })
}

for (const e of engines) {
  describe.runIf(e.available)(`${e.engine} dumps`, () => {
    let server: Server
    const conn = (name = DB, password: string | null = PASSWORD, username = USER): DbConn => ({
      engine: e.engine,
      name,
      host: '127.0.0.1',
      port: server.port,
      username,
      password,
    })

    beforeAll(async () => {
      server = await e.start()
      await server.createDatabase(DB, USER, PASSWORD)
      await e.seed(server)
    })
    afterAll(() => server?.stop())

    it('dumps and restores under a new name: rows, bytes and trigger intact', async () => {
      const dir = freshDir()
      const out = join(dir, 'db.sql')
      const { bytes } = await dumpDatabase(conn(), out, { workDir: dir, runAs: null })
      expect(bytes).toBe(statSync(out).size)
      expect(statSync(out).mode & 0o777).toBe(0o600)
      expect(readdirSync(dir)).toEqual(['db.sql']) // the credentials file is gone

      await e.allowCreate(server, 're$tored-1')
      await loadDump(conn('re$tored-1'), out, { workDir: dir, runAs: null, create: true })
      const original = await e.rows(server, DB)
      expect(original.toLowerCase()).toContain(BYTES)
      expect(await e.rows(server, 're$tored-1')).toBe(original)
      expect(await countTables(conn(), { workDir: dir, runAs: null })).toBe(2)
      expect(await countTables(conn('re$tored-1'), { workDir: dir, runAs: null })).toBe(2)
      expect(await e.triggered(server, 're$tored-1')).toBe('LOWER')
      expect(readdirSync(dir)).toEqual(['db.sql'])
    })

    it('restores from a stream over an existing database, replacing what changed', async () => {
      const dir = freshDir()
      const out = join(dir, 'db.sql')
      await dumpDatabase(conn(), out, { workDir: dir, runAs: null })
      await e.allowCreate(server, 're$tored-2')
      await loadDump(conn('re$tored-2'), out, { workDir: dir, runAs: null, create: true })
      await server.sql(
        "DELETE FROM items WHERE id = 1; UPDATE items SET label = 'changed'",
        're$tored-2',
      )

      const input = createReadStream(out)
      await loadDump(conn('re$tored-2'), input, { workDir: dir, runAs: null, create: false })
      expect(await e.rows(server, 're$tored-2')).toBe(await e.rows(server, DB))
      expect(readdirSync(dir)).toEqual(['db.sql'])
    })

    it('refuses to create a database that already exists, and drops the input stream', async () => {
      const dir = freshDir()
      const input = new PassThrough() // like `restic dump`, which would block if nobody reads
      const before = await e.rows(server, DB)
      const opts = { workDir: dir, runAs: null, create: true }
      const err = await failure(loadDump(conn(), input, opts))
      expect(err).toBeInstanceOf(ConflictError)
      expect(err.message).toBe(
        `Database "${DB}" already exists; restore into a new name or without creating it.`,
      )
      expect(input.destroyed).toBe(true)
      expect(await e.rows(server, DB)).toBe(before)
      expect(readdirSync(dir)).toEqual([])
    })

    it('follows no symlink, neither at the dump path nor as its directory', async () => {
      const dir = freshDir()
      const victim = join(freshDir(), 'db.sql')
      writeFileSync(victim, 'precious')
      symlinkSync(victim, join(dir, 'db.sql'))
      await dumpDatabase(conn(), join(dir, 'db.sql'), { workDir: dir, runAs: null })
      expect(lstatSync(join(dir, 'db.sql')).isFile()).toBe(true)
      expect(readFileSync(victim, 'utf8')).toBe('precious')

      symlinkSync(dirname(victim), join(dir, 'dumps'))
      const through = join(dir, 'dumps', 'db.sql')
      const opts = { workDir: dir, runAs: null, create: false }
      await expect(dumpDatabase(conn(), through, opts)).rejects.toThrow(
        `${join(dir, 'dumps')} is missing, a symlink or not a directory.`,
      )
      await expect(loadDump(conn(), through, opts)).rejects.toThrow('a symlink')
      expect(readFileSync(victim, 'utf8')).toBe('precious')
    })

    it('reports a wrong password plainly, never including it, and leaves no files', async () => {
      const dir = freshDir()
      const wrong = `Wr0ng:pw-${randomBytes(4).toString('hex')}`
      const opts = { workDir: dir, runAs: null }
      const err = await failure(dumpDatabase(conn(DB, wrong), join(dir, 'db.sql'), opts))
      expect(err.message).toMatch(e.authFailure)
      expect(err.message).not.toContain(wrong)
      expect(readdirSync(dir)).toEqual([])

      // A server that echoes the secret back (here as the user name) still does not leak it.
      const echoed = await failure(countTables(conn(DB, wrong, wrong), opts))
      expect(echoed.message).toContain('***')
      expect(echoed.message).not.toContain(wrong)
    })

    it('never passes the password in argv; MariaDB gets its option file first', async () => {
      // Wrappers first on PATH record the argv the real tools are started with.
      const bin = freshDir()
      const log = join(bin, 'argv.log')
      for (const tool of [e.tools.dump, e.tools.client]) {
        script(
          bin,
          tool,
          `printf '%s\\037' "$0" "$@" >> '${log}'; printf '\\036' >> '${log}'
exec '${which(tool)}' "$@"`,
        )
      }
      const dir = freshDir()
      await e.allowCreate(server, 're$tored-3')
      await withPath(bin, async () => {
        await dumpDatabase(conn(), join(dir, 'db.sql'), { workDir: dir, runAs: null })
        const opts = { workDir: dir, runAs: null, create: true }
        await loadDump(conn('re$tored-3'), join(dir, 'db.sql'), opts)
        await countTables(conn('re$tored-3'), opts)
      })
      const calls = readFileSync(log, 'utf8')
        .split('\x1e')
        .filter(Boolean)
        .map((call) => call.split('\x1f').slice(0, -1))
      // dump; create, load and count
      expect(calls.map((argv) => argv[0])).toEqual([
        join(bin, e.tools.dump),
        ...Array(3).fill(join(bin, e.tools.client)),
      ])
      expect(calls.flat().join(' ')).toContain(DB)
      for (const argv of calls) {
        expect(argv.join(' ')).not.toContain(PASSWORD.trim())
        if (e.engine === 'mariadb') expect(argv[1]).toMatch(/^--defaults-extra-file=\//)
      }
      expect(await e.rows(server, 're$tored-3')).toBe(await e.rows(server, DB))
    })

    it('says which package to install when a tool is missing', async () => {
      const dir = freshDir()
      const saved = process.env.PATH
      process.env.PATH = freshDir()
      try {
        await expect(
          dumpDatabase(conn(), join(dir, 'db.sql'), { workDir: dir, runAs: null }),
        ).rejects.toThrow(`${e.tools.dump} is not installed (apt-get install ${e.tools.pkg})`)
        await expect(countTables(conn(), { workDir: dir, runAs: null })).rejects.toThrow(
          `${e.tools.client} is not installed (apt-get install ${e.tools.pkg})`,
        )
      } finally {
        process.env.PATH = saved
      }
      expect(readdirSync(dir)).toEqual([])
    })

    it('cancels a running dump, removing the partial output and credentials', async () => {
      const bin = freshDir()
      script(bin, e.tools.dump, `echo 'partial dump'\nexec sleep 30`)
      const dir = freshDir()
      const out = join(dir, 'db.sql')
      const abort = new AbortController()
      const started = Date.now()
      const err = await withPath(bin, async () => {
        const dumping = dumpDatabase(conn(), out, {
          workDir: dir,
          runAs: null,
          signal: abort.signal,
        })
        while (!existsSync(out) || statSync(out).size === 0)
          await new Promise((r) => setTimeout(r, 20))
        abort.abort()
        return failure(dumping)
      })
      expect(err.name).toBe('AbortError')
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(readdirSync(dir)).toEqual([])
    })

    it.runIf(process.getuid?.() === 0)('runs the tools as runAs, which owns the dump', async () => {
      const name = `pnl${randomBytes(4).toString('hex')}`
      const add = spawnSync('useradd', [
        '--system',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        name,
      ])
      expect(add.status, add.stderr?.toString()).toBe(0)
      try {
        const id = (flag: string) =>
          Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout)
        const runAs = { uid: id('-u'), gid: id('-g') }
        const dir = freshDir()
        chownSync(dir, runAs.uid, runAs.gid)
        chmodSync(dir, 0o700)
        const out = join(dir, 'db.sql')
        await dumpDatabase(conn(), out, { workDir: dir, runAs })
        const st = statSync(out)
        expect([st.uid, st.gid, st.mode & 0o777]).toEqual([runAs.uid, runAs.gid, 0o600])
        expect(readdirSync(dir)).toEqual(['db.sql'])

        await e.allowCreate(server, 're$tored-4')
        await loadDump(conn('re$tored-4'), out, { workDir: dir, runAs, create: true })
        expect(await countTables(conn('re$tored-4'), { workDir: dir, runAs })).toBe(2)
        expect(await e.rows(server, 're$tored-4')).toBe(await e.rows(server, DB))

        // Proof the tool itself runs as that user: in a root-only work dir it cannot read its
        // credentials file.
        const closed = freshDir()
        await expect(
          dumpDatabase(conn(), join(closed, 'db.sql'), { workDir: closed, runAs }),
        ).rejects.toThrow(/defaults|no password supplied/)
        expect(readdirSync(closed)).toEqual([])
      } finally {
        spawnSync('userdel', [name])
      }
    })
  })
}
