import { configDefaults, defineConfig } from 'vitest/config'

/**
 * `PANEL_TEST_DB=postgres vitest run` runs the suites on PostgreSQL (test/global-postgres.ts).
 * These test what only the embedded SQLite database has: its file, its migrations and the
 * copies saved before them, and the panel backup of panel.db (off on PostgreSQL).
 */
const SQLITE_ONLY = [
  'test/unit/pre-migration.test.ts',
  'test/unit/run-numbers.test.ts',
  'test/unit/self-backup-schedule.test.ts',
  'test/integration/self-backup-notice.test.ts',
  'test/integration/self-restore.test.ts',
  'test/integration/admin-panel-backup.test.ts',
]

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    exclude: [
      ...configDefaults.exclude,
      ...(process.env.PANEL_TEST_DB === 'postgres' ? SQLITE_ONLY : []),
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/global-postgres.ts'],
  },
})
