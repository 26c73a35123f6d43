import { lstatSync, realpathSync } from 'node:fs'
import { isAbsolute, resolve, sep } from 'node:path'
import type { Db } from '../db/client.ts'
import { setAdminSetting, type AdminSettings } from '../db/settings.ts'
import { tenantHomes, type TenantQuotas } from '../db/limits.ts'
import { GIB } from './limits.ts'

/** The per-tenant quota fields as typed: blank means "no limit" (panel) or "the default" (tenant). */
export type QuotaText = { quotaGiB: string; quotaSnapshots: string; quotaRunsPerDay: string }

/** The panel-wide limits as typed on Policy limits. */
export type LimitsText = QuotaText & { minIntervalMinutes: string; localRoot: string }

export type LimitSettings = Pick<
  AdminSettings,
  'quotaBytes' | 'quotaSnapshots' | 'quotaRunsPerDay' | 'localRoot'
> & {
  /** null: the default (60 minutes); 0: no minimum. */
  minIntervalMinutes: number | null
}

const MAX_GIB = 1024 * 1024

/** Bytes as the GiB an admin typed: 10737418240 → "10", 536870912 → "0.5". */
export function gibText(bytes: number | null): string {
  return bytes === null ? '' : String(Number((bytes / GIB).toFixed(3)))
}

export function quotaText(q: TenantQuotas): QuotaText {
  const n = (v: number | null) => (v === null ? '' : String(v))
  return {
    quotaGiB: gibText(q.quotaBytes),
    quotaSnapshots: n(q.quotaSnapshots),
    quotaRunsPerDay: n(q.quotaRunsPerDay),
  }
}

export function limitsText(s: AdminSettings): LimitsText {
  return {
    ...quotaText(s),
    minIntervalMinutes: String(s.minIntervalMinutes),
    localRoot: s.localRoot ?? '',
  }
}

function whole(
  text: string,
  min: number,
  max: number,
  errors: Record<string, string>,
  field: string,
  what: string,
): number | null {
  if (!text) return null
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < min || n > max) {
    errors[field] = `Use a whole number of ${what} from ${min} to ${max}, or leave it blank.`
    return null
  }
  return n
}

/** Validates the three quota fields; blank gives null. Errors are keyed by field name. */
export function parseQuotas(text: QuotaText, errors: Record<string, string>): TenantQuotas {
  let quotaBytes: number | null = null
  if (text.quotaGiB) {
    const g = Number(text.quotaGiB)
    if (!/^\d+(\.\d+)?$/.test(text.quotaGiB) || g <= 0 || g > MAX_GIB) {
      errors.quotaGiB = 'Use a number of GiB like 50 or 0.5, or leave it blank.'
    } else quotaBytes = Math.round(g * GIB)
  }
  return {
    quotaBytes,
    quotaSnapshots: whole(text.quotaSnapshots, 1, 1_000_000, errors, 'quotaSnapshots', 'snapshots'),
    quotaRunsPerDay: whole(text.quotaRunsPerDay, 0, 10_000, errors, 'quotaRunsPerDay', 'backups'),
  }
}

const inside = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep)

/**
 * Why `path` cannot hold Local destinations, or undefined: it must be an absolute, existing
 * directory reached without symbolic links, neither inside a tenant's home (the tenant could
 * read or change the repositories) nor holding one (backups would land among tenant files).
 */
export async function localRootProblem(db: Db, path: string): Promise<string | undefined> {
  if (!isAbsolute(path)) return 'Use an absolute path such as /srv/backups.'
  if (/[\0-\x1f]/.test(path)) return 'That is not a valid path.'
  const root = resolve(path)
  let real: string
  try {
    real = realpathSync(root)
  } catch {
    return `“${root}” does not exist. Create the directory first.`
  }
  if (real !== root) return `“${root}” goes through a symbolic link; use the real path ${real}.`
  if (!lstatSync(root).isDirectory()) return `“${root}” is not a directory.`
  for (const t of await tenantHomes(db)) {
    const home = resolve(t.homeDir)
    let realHome = home
    try {
      realHome = realpathSync(home)
    } catch {
      // A home that does not exist yet is compared as written.
    }
    if (inside(root, home) || inside(root, realHome)) {
      return `“${root}” is inside the home folder of tenant ${t.name}; that tenant could read or change every backup there.`
    }
    if (inside(home, root) || inside(realHome, root)) {
      return `“${root}” holds the home folder of tenant ${t.name}; choose a directory used only for backups.`
    }
  }
  return undefined
}

/** Validates the Policy limits fields; blank means no limit (and the configured local root). */
export async function parseLimits(
  db: Db,
  text: LimitsText,
  errors: Record<string, string>,
): Promise<LimitSettings> {
  const quotas = parseQuotas(text, errors)
  const minIntervalMinutes = whole(
    text.minIntervalMinutes,
    0,
    10_080,
    errors,
    'minIntervalMinutes',
    'minutes',
  )
  let localRoot: string | null = null
  if (text.localRoot) {
    const problem = await localRootProblem(db, text.localRoot)
    if (problem) errors.localRoot = problem
    else localRoot = resolve(text.localRoot)
  }
  return { ...quotas, minIntervalMinutes, localRoot }
}

export async function saveLimitSettings(db: Db, limits: LimitSettings): Promise<void> {
  for (const key of Object.keys(limits) as (keyof LimitSettings)[])
    await setAdminSetting(db, key, limits[key])
}
