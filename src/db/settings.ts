import { eq } from 'drizzle-orm'
import type { Db } from './client.ts'
import { panelSettings } from './schema.ts'
import type { GuardPolicy } from '../drivers/guard.ts'
import type { Config } from '../config.ts'

export type AdminSettings = {
  /** Destination types tenants may add; null means every type. */
  allowedTypes: string[] | null
  /** Hosts or CIDR ranges the outbound guard lets through (e.g. a storage server on the LAN). */
  outboundAllow: string[]
  /** Panel-wide default limits per tenant (a tenant's own quota columns override them); null = none. */
  quotaBytes: number | null
  quotaSnapshots: number | null
  /** On-demand backups (web, CLI, API) per tenant in any 24 hours; 0 turns them off. */
  quotaRunsPerDay: number | null
  /**
   * Shortest time between two scheduled backups a tenant's policy may ask for, in minutes: 60
   * unless the admin chose another (0: no minimum).
   */
  minIntervalMinutes: number
  /** Where Local destinations live; null means the configured PANEL_LOCAL_ROOT. */
  localRoot: string | null
}

const defaults: AdminSettings = {
  allowedTypes: null,
  outboundAllow: [],
  quotaBytes: null,
  quotaSnapshots: null,
  quotaRunsPerDay: null,
  minIntervalMinutes: 60,
  localRoot: null,
}

export async function getAdminSettings(db: Db): Promise<AdminSettings> {
  const out = { ...defaults }
  for (const row of await db.select().from(panelSettings)) {
    if (row.key in out) (out as Record<string, unknown>)[row.key] = row.value
  }
  return out
}

/** Stores one setting; null removes it, which gives back its default. */
export async function setAdminSetting<K extends keyof AdminSettings>(
  db: Db,
  key: K,
  value: AdminSettings[K] | null,
): Promise<void> {
  if (value === null) {
    await db.delete(panelSettings).where(eq(panelSettings.key, key))
    return
  }
  await db
    .insert(panelSettings)
    .values({ key, value })
    .onConflictDoUpdate({ target: panelSettings.key, set: { value } })
}

/** The guard policy for outbound connections: the admin's allowlist plus PANEL_OUTBOUND_ALLOW. */
export async function guardPolicy(
  db: Db,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GuardPolicy> {
  const fromEnv = (env.PANEL_OUTBOUND_ALLOW ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return { allow: [...(await getAdminSettings(db)).outboundAllow, ...fromEnv] }
}

/** The folder Local destinations live under: the admin's setting, else `config.localRoot`. */
export async function localRootOf(db: Db, config: Pick<Config, 'localRoot'>): Promise<string> {
  return (await getAdminSettings(db)).localRoot ?? config.localRoot
}

export async function typeAllowed(db: Db, type: string): Promise<boolean> {
  const allowed = (await getAdminSettings(db)).allowedTypes
  return allowed === null || allowed.includes(type)
}
