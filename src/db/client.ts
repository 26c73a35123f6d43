import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import { fileURLToPath } from 'node:url'
import { chmodSync } from 'node:fs'
import * as schema from './schema.ts'

export type Db = ReturnType<typeof drizzle<typeof schema>>

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

/** Opens the SQLite file (WAL, foreign keys on) and applies committed migrations. */
export function openDb(path: string): Db {
  const sqlite = new Database(path)
  chmodSync(path, 0o600)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  const db = drizzle(sqlite, { schema })
  migrate(db, { migrationsFolder })
  return db
}
