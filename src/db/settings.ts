import type { Db } from './client.ts'
import { panelSettings } from './schema.ts'
import type { GuardPolicy } from '../drivers/guard.ts'

export type AdminSettings = {
  /** Destination types tenants may add; null means every type. */
  allowedTypes: string[] | null
  /** Hosts or CIDR ranges the outbound guard lets through (e.g. a storage server on the LAN). */
  outboundAllow: string[]
}

const defaults: AdminSettings = { allowedTypes: null, outboundAllow: [] }

export function getAdminSettings(db: Db): AdminSettings {
  const out = { ...defaults }
  for (const row of db.select().from(panelSettings).all()) {
    if (row.key in out) (out as Record<string, unknown>)[row.key] = row.value
  }
  return out
}

export function setAdminSetting<K extends keyof AdminSettings>(db: Db, key: K, value: AdminSettings[K]): void {
  db.insert(panelSettings).values({ key, value }).onConflictDoUpdate({ target: panelSettings.key, set: { value } }).run()
}

/** The guard policy for outbound connections: the admin's allowlist plus PANEL_OUTBOUND_ALLOW. */
export function guardPolicy(db: Db, env: NodeJS.ProcessEnv = process.env): GuardPolicy {
  const fromEnv = (env.PANEL_OUTBOUND_ALLOW ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  return { allow: [...getAdminSettings(db).outboundAllow, ...fromEnv] }
}

export function typeAllowed(db: Db, type: string): boolean {
  const allowed = getAdminSettings(db).allowedTypes
  return allowed === null || allowed.includes(type)
}

