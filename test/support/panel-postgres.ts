import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { openDatabase } from '../../src/db/client.ts'
import { closePostgres } from '../../src/db/dialect.ts'
import { drivers } from '../../src/drivers/registry.ts'
import type { Deps } from '../../src/web/context.ts'
import { startPostgres, type PostgresServer } from '../services/postgres.ts'

/** A throwaway PostgreSQL server with an empty database `panel` owned by role `panel`. */
export async function panelPostgres(): Promise<{ url: string; server: PostgresServer }> {
  const server = await startPostgres()
  const password = randomBytes(12).toString('hex')
  await server.createDatabase('panel', 'panel', password)
  return { url: `postgres://panel:${password}@127.0.0.1:${server.port}/panel`, server }
}

/** Deps like freshDeps(), on the PostgreSQL database at `url` (migrated). */
export async function pgDeps(url: string): Promise<Deps & { close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'panel-test-'))
  const config = loadConfig({
    PANEL_DATA_DIR: dir,
    PANEL_SECRET_KEY: randomBytes(32).toString('hex'),
    PANEL_DATABASE_URL: url,
  })
  const db = await openDatabase(config, { log: () => {} })
  return { db, config, drivers, close: () => closePostgres(db) }
}
