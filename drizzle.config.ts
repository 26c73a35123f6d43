import { defineConfig } from 'drizzle-kit'

/** SQLite, the embedded default: `npm run db:generate` writes drizzle/sqlite/. */
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema-sqlite.ts',
  out: './drizzle/sqlite',
})
