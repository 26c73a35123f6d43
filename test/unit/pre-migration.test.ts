import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
} from 'node:fs'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb } from '../../src/db/client.ts'

const drizzleDir = join(import.meta.dirname, '../../drizzle/sqlite')
const journal = JSON.parse(readFileSync(join(drizzleDir, 'meta/_journal.json'), 'utf8')) as {
  entries: { tag: string }[]
}
const tags = journal.entries.map((e) => e.tag)

/** A migrations folder holding only the first `n` committed migrations (an older panel). */
function olderMigrations(n: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'panel-migrations-'))
  mkdirSync(join(dir, 'meta'))
  const entries = journal.entries.slice(0, n)
  for (const e of entries) copyFileSync(join(drizzleDir, `${e.tag}.sql`), join(dir, `${e.tag}.sql`))
  writeFileSync(join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries }))
  return dir
}

function open(path: string, migrationsFolder?: string) {
  const lines: string[] = []
  const db = openDb(path, { migrationsFolder, log: (l) => lines.push(l) })
  db.$client.close()
  return lines
}

/** The database's schema as SQL text, for telling an old schema from the new one. */
const schemaOf = (path: string) => {
  const db = new Database(path, { readonly: true })
  try {
    return (
      db.prepare('SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name').all() as {
        sql: string
      }[]
    ).map((r) => r.sql)
  } finally {
    db.close()
  }
}

describe('a copy of the database before migrations', () => {
  it('is not made for a new file or an up-to-date database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'panel-premig-'))
    const path = join(dir, 'panel.db')
    expect(open(path)).toEqual([])
    expect(open(path)).toEqual([])
    expect(readdirSync(dir).filter((f) => f.includes('.pre-'))).toEqual([])
  })

  it('is made before pending migrations, opens with the old schema, and only 3 are kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'panel-premig-'))
    const path = join(dir, 'panel.db')
    const last = tags.length
    expect(last).toBeGreaterThanOrEqual(5)
    // An old panel's database, with a row to find again in the copy.
    open(path, olderMigrations(last - 4))
    const raw = new Database(path)
    raw.prepare("INSERT INTO panel_settings (key, value) VALUES ('marker', '\"old\"')").run()
    raw.close()

    // Each upgrade by one migration saves one copy named after that migration.
    for (let n = last - 3; n <= last; n++) {
      const lines = open(path, n === last ? undefined : olderMigrations(n))
      const tag = tags[n - 1]!
      expect(lines).toEqual([
        `Saved a copy of the database before migration ${tag}: ${path}.pre-${tag}`,
      ])
    }
    const copies = readdirSync(dir)
      .filter((f) => f.startsWith('panel.db.pre-'))
      .sort()
    expect(copies).toEqual(tags.slice(last - 3).map((t) => `panel.db.pre-${t}`))

    // The newest copy holds the database as it was just before the last migration.
    const copy = join(dir, `panel.db.pre-${tags[last - 1]}`)
    const old = new Database(copy, { readonly: true })
    expect(old.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(old.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get()).toEqual({
      n: last - 1,
    })
    expect(old.prepare("SELECT value FROM panel_settings WHERE key = 'marker'").get()).toEqual({
      value: '"old"',
    })
    old.close()
    // The copy has the schema before the last migration, the live file the one after it.
    expect(schemaOf(copy)).not.toEqual(schemaOf(path))
    const lastSql = readFileSync(join(drizzleDir, `${tags[last - 1]}.sql`), 'utf8')
    const created = lastSql.match(/CREATE TABLE `(\w+)`/)?.[1]
    if (created) {
      expect(schemaOf(path).some((s) => s.includes(`\`${created}\``))).toBe(true)
      expect(schemaOf(copy).some((s) => s.includes(`TABLE \`${created}\``))).toBe(false)
    }
    expect(existsSync(`${path}.pre-${tags[last - 4]}`)).toBe(false)
  })
})
