import type Database from 'better-sqlite3'
import { chmodSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** How many pre-migration copies are kept beside the database (the newest). */
export const KEEP_COPIES = 3

type JournalEntry = { tag: string; when: number }

/**
 * Tags of the migrations in `folder` the database has not applied yet, oldest first, by the
 * rule drizzle's migrator uses (an entry is applied when its `when` is later than the newest
 * `created_at` in `__drizzle_migrations`). Empty for a database without that table: a new file
 * has nothing to save.
 */
export function pendingMigrations(sqlite: Database.Database, folder: string): string[] {
  const table = sqlite
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get()
  if (!table) return []
  const row = sqlite.prepare('SELECT max(created_at) AS last FROM __drizzle_migrations').get() as {
    last: number | string | null
  }
  const last = row.last === null ? -Infinity : Number(row.last)
  const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as {
    entries: JournalEntry[]
  }
  return journal.entries.filter((e) => e.when > last).map((e) => e.tag)
}

/**
 * Writes a consistent copy of the open database to `<path>.pre-<tag>` with `VACUUM INTO`
 * (synchronous, and safe while other connections write), mode 0600, replacing a copy of the same
 * name; then removes all but the KEEP_COPIES newest copies. Returns the copy's path.
 */
export function saveCopyBeforeMigration(
  sqlite: Database.Database,
  path: string,
  tag: string,
): string {
  const copy = `${path}.pre-${tag}`
  rmSync(copy, { force: true })
  sqlite.prepare('VACUUM INTO ?').run(copy)
  chmodSync(copy, 0o600)
  pruneCopies(path)
  return copy
}

/** Removes all but the KEEP_COPIES newest `<path>.pre-*` files (newest by time, then by name). */
export function pruneCopies(path: string, keep = KEEP_COPIES): string[] {
  const dir = dirname(path)
  const prefix = `${basename(path)}.pre-`
  const copies = readdirSync(dir)
    .filter((name) => name.startsWith(prefix))
    .map((name) => ({ name, at: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at || b.name.localeCompare(a.name))
  const removed = copies.slice(keep).map((c) => join(dir, c.name))
  for (const file of removed) rmSync(file, { force: true })
  return removed
}
