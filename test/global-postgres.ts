import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../src/db/client.ts'
import { closePostgres } from '../src/db/dialect.ts'
import { startPostgres, type PostgresServer } from './services/postgres.ts'

let server: PostgresServer | undefined

/**
 * `PANEL_TEST_DB=postgres`: one PostgreSQL server for the whole run, with a migrated database
 * `panel_template`; each test file's freshDeps() copies it into a database of its own
 * (test/helpers.ts). The address reaches the test processes through the environment.
 */
export async function setup(): Promise<void> {
  if (process.env.PANEL_TEST_DB !== 'postgres') return
  server = await startPostgres()
  const password = randomBytes(12).toString('hex')
  await server.createDatabase('panel_template', 'panel', password)
  await server.sql('ALTER ROLE panel CREATEDB')
  const root = `postgres://panel:${password}@127.0.0.1:${server.port}`
  const dataDir = mkdtempSync(join(tmpdir(), 'panel-template-'))
  const db = await openDatabase(
    { databaseUrl: `${root}/panel_template`, dbPath: join(dataDir, 'unused.db'), dataDir },
    { log: () => {} },
  )
  await closePostgres(db)
  process.env.PANEL_TEST_PG = root
}

export async function teardown(): Promise<void> {
  await server?.stop()
}
