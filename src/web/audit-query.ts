import { findTenantByName } from '../db/tenants.ts'
import type { AuditFilter } from '../db/audit-log.ts'
import type { AuditQueryValues } from '../../views/audit.tsx'
import type { Ctx } from './context.ts'

export type AuditQuery = {
  filter: AuditFilter
  values: AuditQueryValues
  errors: Partial<Record<keyof AuditQueryValues, string>>
}

const PAGE = 50

/** Milliseconds `zone` is ahead of UTC at `at`. */
function zoneOffset(at: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(at))
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value)
  return (
    Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second')) -
    Math.floor(at / 1000) * 1000
  )
}

/** Midnight starting `day` (YYYY-MM-DD) in `zone`, plus `addDays`; null when it is not a date. */
export function startOfDay(day: string, zone: string, addDays = 0): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day)
  if (!m) return null
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + addDays)
  const check = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])))
  if (check.getUTCMonth() !== Number(m[2]) - 1 || check.getUTCDate() !== Number(m[3])) return null
  // Twice, so a day that starts on the far side of a DST change still lands on its midnight.
  let at = utc - zoneOffset(utc, zone)
  at = utc - zoneOffset(at, zone)
  return new Date(at)
}

function positiveId(text: string | undefined): number | undefined {
  return text && /^[1-9]\d{0,15}$/.test(text) ? Number(text) : undefined
}

/**
 * Reads the audit filter from the query string. Dates are whole days in `zone`, `to` included.
 * `admin` enables the tenant filter (a tenant name); a tenant page ignores it. Bad input is
 * reported per field and leaves that filter off, so the page still shows something.
 */
export async function readAuditQuery(c: Ctx, zone: string, admin: boolean): Promise<AuditQuery> {
  const q = (k: string) => (c.req.query(k) ?? '').trim()
  const values: AuditQueryValues = {
    tenant: admin ? q('tenant').toLowerCase() : '',
    action: q('action').slice(0, 64),
    actor: q('actor').slice(0, 64),
    from: q('from'),
    to: q('to'),
  }
  const errors: AuditQuery['errors'] = {}
  const filter: AuditFilter = {
    limit: PAGE,
    before: positiveId(c.req.query('before')),
    after: positiveId(c.req.query('after')),
  }
  if (values.tenant) {
    const tenant = await findTenantByName(c.get('deps').db, values.tenant)
    if (tenant) filter.tenantId = tenant.id
    else errors.tenant = `No tenant is named “${values.tenant}”.`
  }
  if (values.action) filter.action = values.action
  if (values.actor) filter.actor = values.actor
  if (values.from) {
    const from = startOfDay(values.from, zone)
    if (from) filter.from = from
    else errors.from = 'Enter a date like 2026-01-31.'
  }
  if (values.to) {
    const to = startOfDay(values.to, zone, 1)
    if (to) filter.to = to
    else errors.to = 'Enter a date like 2026-01-31.'
  }
  if (filter.from && filter.to && filter.from >= filter.to)
    errors.to = 'The end date is before the start date.'
  // With an unknown tenant, show nothing rather than everyone's entries.
  if (errors.tenant) filter.tenantId = -1
  return { filter, values, errors }
}

/** The query string for a page of the same filter (empty fields left out). */
export function auditQueryString(
  values: AuditQueryValues,
  page: { before?: number; after?: number } = {},
): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(values)) if (v) params.set(k, v)
  if (page.before) params.set('before', String(page.before))
  if (page.after) params.set('after', String(page.after))
  const text = params.toString()
  return text ? `?${text}` : ''
}
