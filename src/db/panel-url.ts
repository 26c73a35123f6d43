import { eq } from 'drizzle-orm'
import { hostname } from 'node:os'
import type { Db } from './client.ts'
import type { Config } from '../config.ts'
import { panelSettings } from './schema.ts'

const KEY = 'panelUrl'

/**
 * The origin `panel serve` is reached at: PANEL_BASE_URL when set, else `http://HOST:PORT` with
 * the port it actually listens on (a wildcard HOST such as 0.0.0.0 becomes this machine's name).
 */
export function listeningUrl(config: Pick<Config, 'baseUrl' | 'host'>, port: number): string {
  if (config.baseUrl) return config.baseUrl
  const wildcard = config.host === '0.0.0.0' || config.host === '::' || config.host === ''
  const host = wildcard ? hostname() : config.host
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** Stores the panel's public origin; `panel serve` calls it once it listens. */
export async function storePanelUrl(db: Db, url: string): Promise<void> {
  await db
    .insert(panelSettings)
    .values({ key: KEY, value: url })
    .onConflictDoUpdate({ target: panelSettings.key, set: { value: url } })
}

/** The origin the last `panel serve` stored, or null when none has started yet. */
export async function storedPanelUrl(db: Db): Promise<string | null> {
  const value = (await db.select().from(panelSettings).where(eq(panelSettings.key, KEY)))[0]?.value
  return typeof value === 'string' ? value : null
}

/**
 * The origin for links in notices and CLI output, in whatever process builds them (web, `panel
 * runner` on another host, a CLI `--wait` run): PANEL_BASE_URL in this process's environment,
 * else what `panel serve` stored, else `http://HOST:PORT` from this process's configuration.
 */
export async function panelOrigin(
  db: Db,
  config: Pick<Config, 'baseUrl' | 'host' | 'port'>,
): Promise<string> {
  return config.baseUrl ?? (await storedPanelUrl(db)) ?? listeningUrl(config, config.port)
}
