import { Hono } from 'hono'
import { createHash, timingSafeEqual } from 'node:crypto'
import { DURATION_BUCKETS, panelMetrics, type PanelMetrics } from '../db/metrics.ts'
import { NotFoundError } from '../errors.ts'
import type { AppEnv, Ctx } from './context.ts'

const KINDS = ['backup', 'restore', 'verify']
const STATUSES = ['success', 'partial', 'failed', 'interrupted']

/** Equal strings, in time that does not depend on where they differ (hashes have equal length). */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(a), digest(b))
}

/**
 * Who may read /metrics: a scraper with `Authorization: Bearer <PANEL_METRICS_TOKEN>`, or a
 * signed-in admin. A tenant gets the same 404 as any page that is not theirs; anyone else 401.
 */
function allowed(c: Ctx): true | Response {
  const header = c.req.header('authorization')
  const unauthorized = (text: string) => {
    c.header('WWW-Authenticate', 'Bearer realm="panel metrics"')
    c.header('Cache-Control', 'no-store')
    return c.text(text, 401)
  }
  if (header !== undefined) {
    const token = c.get('deps').config.metricsToken
    const sent = /^Bearer +(.+)$/i.exec(header.trim())?.[1]
    if (token && sent && sameSecret(sent, token)) return true
    return unauthorized('The metrics token is wrong or not configured.\n')
  }
  const { user } = c.get('auth')
  if (!user)
    return unauthorized('Sign in as an admin, or send the metrics token as a Bearer token.\n')
  if (user.role !== 'admin') throw new NotFoundError()
  return true
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function labels(pairs: Record<string, string>): string {
  const text = Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')
  return text ? `{${text}}` : ''
}

function num(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf'
  return String(Math.round(value * 1000) / 1000)
}

/** Prometheus text exposition (format 0.0.4) of the panel's numbers at `now`. */
export function exposition(m: PanelMetrics, now: Date): string {
  const out: string[] = []
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
  const sample = (name: string, value: number, l: Record<string, string> = {}) =>
    out.push(`${name}${labels(l)} ${num(value)}`)

  const kinds = [...new Set([...KINDS, ...m.runs.map((r) => r.kind)])]
  const statuses = [...new Set([...STATUSES, ...m.runs.map((r) => r.status)])]
  family(
    'panel_runs_total',
    'counter',
    'Finished runs by kind (backup, restore, verify) and final status.',
  )
  for (const kind of kinds) {
    for (const status of statuses) {
      sample(
        'panel_runs_total',
        m.runs.find((r) => r.kind === kind && r.status === status)?.count ?? 0,
        { kind, status },
      )
    }
  }

  family(
    'panel_run_duration_seconds',
    'histogram',
    'How long finished runs took, from start to finish, by kind.',
  )
  for (const kind of kinds) {
    const h = m.durations.find((d) => d.kind === kind) ?? {
      buckets: DURATION_BUCKETS.map(() => 0),
      count: 0,
      sumSeconds: 0,
    }
    DURATION_BUCKETS.forEach((le, i) =>
      sample('panel_run_duration_seconds_bucket', h.buckets[i]!, { kind, le: String(le) }),
    )
    sample('panel_run_duration_seconds_bucket', h.count, { kind, le: '+Inf' })
    sample('panel_run_duration_seconds_sum', h.sumSeconds, { kind })
    sample('panel_run_duration_seconds_count', h.count, { kind })
  }

  family(
    'panel_backup_bytes_total',
    'counter',
    'Bytes added by finished backup runs (new data after deduplication).',
  )
  sample('panel_backup_bytes_total', m.backupBytes)

  family('panel_queue_depth', 'gauge', 'Jobs waiting in the queue and jobs running now.')
  sample('panel_queue_depth', m.queue.queued, { status: 'queued' })
  sample('panel_queue_depth', m.queue.running, { status: 'running' })

  family(
    'panel_oldest_good_backup_age_seconds',
    'gauge',
    'Age of the oldest last successful backup among enabled tenants with an enabled policy; NaN when none has one.',
  )
  sample(
    'panel_oldest_good_backup_age_seconds',
    m.oldestGoodBackupAt
      ? Math.max(0, (now.getTime() - m.oldestGoodBackupAt.getTime()) / 1000)
      : NaN,
  )

  family(
    'panel_tenants_never_backed_up',
    'gauge',
    'Enabled tenants with an enabled policy and no successful backup yet.',
  )
  sample('panel_tenants_never_backed_up', m.neverBackedUp)

  family(
    'panel_tenants_failing',
    'gauge',
    'Tenants whose latest backups failed (failing streak above zero).',
  )
  sample('panel_tenants_failing', m.failing)

  family(
    'panel_stored_bytes',
    'gauge',
    'Bytes stored on destinations over all repositories (restic stats after each backup).',
  )
  sample('panel_stored_bytes', m.storedBytes)
  return out.join('\n') + '\n'
}

/** GET /metrics for Prometheus: admins and the scrape token only. */
export const metricsRoutes = new Hono<AppEnv>()

metricsRoutes.get('/', async (c) => {
  const verdict = allowed(c)
  if (verdict !== true) return verdict
  c.header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  c.header('Cache-Control', 'no-store')
  return c.body(exposition(await panelMetrics(c.get('deps').db), new Date()))
})
