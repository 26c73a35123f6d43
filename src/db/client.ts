import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import { inProject } from '../project-root.ts'
import { chmodSync, existsSync, statSync } from 'node:fs'
import * as schema from './schema-sqlite.ts'
import { pendingMigrations, saveCopyBeforeMigration } from './pre-migration.ts'

export type Db = ReturnType<typeof drizzle<typeof schema>>

const defaultMigrations = inProject('drizzle/sqlite')

export type OpenDbOptions = {
  /** Where the migrations are (default: the committed `drizzle/sqlite/`); tests pass an older set. */
  migrationsFolder?: string
  /** Where the line about a pre-migration copy goes (default console.error, so --json stays clean). */
  log?: (line: string) => void
}

/**
 * Opens the SQLite file (WAL, foreign keys on) and applies committed migrations. When the file
 * already held a panel database with migrations pending, a consistent copy is saved beside it
 * first (`<file>.pre-<tag of the first pending migration>`, the 3 newest kept).
 */
export function openDb(path: string, opts: OpenDbOptions = {}): Db {
  const migrationsFolder = opts.migrationsFolder ?? defaultMigrations
  const existed = existsSync(path) && statSync(path).size > 0
  const sqlite = new Database(path)
  chmodSync(path, 0o600)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  if (existed) {
    const [first] = pendingMigrations(sqlite, migrationsFolder)
    if (first) {
      const copy = saveCopyBeforeMigration(sqlite, path, first)
      ;(opts.log ?? console.error)(
        `Saved a copy of the database before migration ${first}: ${copy}`,
      )
    }
  }
  const db = drizzle(sqlite, { schema })
  migrate(db, { migrationsFolder })
  return db
}

/**
 * The panel's database: PostgreSQL when `databaseUrl` is set (PANEL_DATABASE_URL), else the
 * SQLite file at `dbPath`. Either way migrated and ready.
 */
export async function openDatabase(
  config: { databaseUrl: string | null; dbPath: string; dataDir: string },
  opts: OpenDbOptions = {},
): Promise<Db> {
  if (!config.databaseUrl) return openDb(config.dbPath, opts)
  const { openPostgres } = await import('./pg.ts')
  return openPostgres(config.databaseUrl, {
    migrationsFolder: opts.migrationsFolder ?? inProject('drizzle/pg'),
    dumpDir: config.dataDir,
    log: opts.log,
  })
}
