import { serve } from '@hono/node-server'
import { loadConfig } from './config.ts'
import { openDb } from './db/client.ts'
import { drivers } from './drivers/registry.ts'
import { ensureAdmin, panelUrl, seedDemo } from './setup.ts'
import { pruneThrottle } from './auth/throttle.ts'
import { createApp } from './web/app.tsx'

/** `panel serve`: migrate, first-start setup, then serve until SIGINT/SIGTERM. */
export async function startServer(): Promise<void> {
  const config = loadConfig()
  const db = openDb(config.dbPath)
  const linkPath = ensureAdmin(db)
  if (config.demo) {
    for (const t of await seedDemo(db, config)) {
      console.log(`Demo tenant "${t.name}" created, password: ${t.password}`)
    }
  }
  pruneThrottle(db)
  const app = createApp({ db, config, drivers })
  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
    const url = panelUrl({ ...config, port: info.port })
    if (linkPath) {
      console.log(`\nFirst start: sign in as "admin" once with this link (valid 24 hours):\n\n  ${url}${linkPath}\n`)
    }
    console.log(`Panel listening on ${url}`)
  })
  const stop = () => server.close(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
