import { defineConfig } from 'drizzle-kit'

/** PostgreSQL (PANEL_DATABASE_URL): `npm run db:generate` writes drizzle/pg/. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema-pg.ts',
  out: './drizzle/pg',
})
