import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Row, TextInput } from './fields.tsx'
import type { AuditRow } from '../src/db/audit-log.ts'
import { dayTime } from '../src/zoned.ts'
import { auditSentence } from './audit-words.ts'

/** What the filter form shows back: exactly what was typed. */
export type AuditQueryValues = {
  tenant: string
  action: string
  actor: string
  from: string
  to: string
}

/** Common action prefixes offered while typing in the Action filter. */
const ACTION_HINTS = [
  'login.',
  'login.failed',
  'logout',
  'destination.',
  'dropbox.connect',
  'policy.',
  'backup.request',
  'restore.start',
  'download',
  'recovery.',
  'token.',
  'api.',
  'tenant.',
  'database.',
  'settings.update',
  'admin.',
]

/** What a tenant can filter their log by, in words, and the action prefix each stands for. */
const TENANT_KINDS = [
  ['', 'Everything'],
  ['login.', 'Sign-ins'],
  ['destination.', 'Destinations'],
  ['policy.', 'Policies'],
  ['backup.', 'Backups asked for'],
  ['verify.', 'Test restores and checks'],
  ['restore.', 'Restores'],
  ['download', 'Downloads'],
  ['recovery.', 'Recovery kit'],
  ['token.', 'Backup token'],
  ['apikey.', 'API keys'],
  ['notifications.', 'Notifications'],
] as const

export type AuditViewProps = {
  /** Where the filter form and page links point: /admin/audit or the tenant's page. */
  base: string
  /** The admin page shows and filters by tenant; a tenant's page does not. */
  admin: boolean
  /** Time zone the times and the date filter are in. */
  zone: string
  values: AuditQueryValues
  errors: Partial<Record<keyof AuditQueryValues, string>>
  rows: AuditRow[]
  newer: string | null
  older: string | null
  /** On a tenant's page: their user id. Others' addresses (an admin's) are not shown to them. */
  viewerId?: number
}

/** A word in colour beside entries that went wrong; the sentence says the rest. */
function failed(r: AuditRow): string | null {
  if (/\.denied$/.test(r.action)) return 'Refused'
  if (/\.failed$/.test(r.action) || (r.details as { ok?: unknown } | null)?.ok === false)
    return 'Failed'
  return null
}

function detailText(value: unknown): string {
  const text = Array.isArray(value)
    ? value.join(', ') || 'none'
    : typeof value === 'object' && value
      ? JSON.stringify(value)
      : String(value)
  return text.length > 120 ? text.slice(0, 119) + '…' : text
}

function Details(props: { details: Record<string, unknown> | null }) {
  const entries = Object.entries(props.details ?? {}).filter(
    ([, v]) => v !== undefined && v !== null && v !== '',
  )
  if (!entries.length) return <span class="muted">—</span>
  return (
    <dl class="kv">
      {entries.map(([k, v]) => (
        <div>
          <dt>{k}</dt>
          <dd>{detailText(v)}</dd>
        </div>
      ))}
    </dl>
  )
}

/** The filter form and one page of entries; htmx swaps this block as a whole. */
export function AuditResults(props: AuditViewProps) {
  const { values: v, errors: e, admin } = props
  const hx = { 'hx-target': '#audit', 'hx-swap': 'outerHTML', 'hx-push-url': 'true' }
  const filtered = Object.values(v).some(Boolean)
  return (
    <div id="audit">
      <form
        method="get"
        action={props.base}
        class="card form audit-filter"
        hx-get={props.base}
        {...hx}
      >
        <div class={admin ? 'grid-5' : 'grid-3'}>
          {admin && (
            <TextInput
              name="tenant"
              label="Tenant"
              value={v.tenant}
              error={e.tenant}
              placeholder="alice"
              autocomplete="off"
            />
          )}
          {admin ? (
            <TextInput
              name="action"
              label="Action"
              value={v.action}
              error={e.action}
              placeholder="login."
              list="audit-actions"
              autocomplete="off"
            />
          ) : (
            <Row id="f-action" label="What" error={e.action}>
              <select id="f-action" name="action">
                {TENANT_KINDS.map(([value, label]) => (
                  <option value={value} selected={v.action === value}>
                    {label}
                  </option>
                ))}
                {v.action && !TENANT_KINDS.some(([value]) => value === v.action) && (
                  <option value={v.action} selected>
                    {v.action}
                  </option>
                )}
              </select>
            </Row>
          )}
          {admin && (
            <TextInput
              name="actor"
              label="Who"
              value={v.actor}
              error={e.actor}
              placeholder="admin"
              autocomplete="off"
            />
          )}
          <TextInput name="from" label="From" type="date" value={v.from} error={e.from} />
          <TextInput name="to" label="To" type="date" value={v.to} error={e.to} />
        </div>
        {admin && (
          <datalist id="audit-actions">
            {ACTION_HINTS.map((a) => (
              <option value={a} />
            ))}
          </datalist>
        )}
        <div class="form-actions">
          <button class="button primary" type="submit">
            Filter
          </button>
          {filtered && (
            <a class="button ghost" href={props.base} hx-get={props.base} {...hx}>
              Clear
            </a>
          )}
          {admin && (
            <span class="help">
              Action matches the start of the verb: “login.” finds sign-ins and failures.
            </span>
          )}
        </div>
      </form>
      {props.rows.length === 0 ? (
        <div class="card empty">
          <h2>No entries</h2>
          <p>{filtered ? 'Nothing matches this filter.' : 'Nothing has been recorded yet.'}</p>
        </div>
      ) : (
        <div class="card table-card">
          <table class="audit-table">
            <thead>
              <tr>
                <th>When</th>
                <th>What happened</th>
                {admin && <th>Tenant</th>}
                {admin && <th>From</th>}
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => (
                <tr data-testid="audit-row">
                  <td class="nowrap">
                    <time datetime={r.at.toISOString()}>
                      {dayTime(r.at, props.zone, { seconds: true })}
                    </time>
                  </td>
                  <td>
                    {failed(r) && <span class="badge badge-bad">{failed(r)}</span>}
                    {failed(r) ? ' ' : ''}
                    {auditSentence(r, { admin, viewerId: props.viewerId, zone: props.zone })}
                    {admin && (
                      <details class="audit-more">
                        <summary>
                          <code>{r.action}</code>
                        </summary>
                        <Details details={r.details ?? null} />
                      </details>
                    )}
                  </td>
                  {admin && <td>{r.tenantName ?? <span class="muted">—</span>}</td>}
                  {admin && <td class="mono">{r.ip ?? <span class="muted">—</span>}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(props.newer || props.older) && (
        <nav class="pager" aria-label="Pages">
          {props.newer ? (
            <a class="button small" href={props.newer} hx-get={props.newer} {...hx}>
              ← Newer
            </a>
          ) : (
            <span />
          )}
          {props.older && (
            <a class="button small" href={props.older} hx-get={props.older} {...hx}>
              Older →
            </a>
          )}
        </nav>
      )}
    </div>
  )
}

export function AuditPage(props: AuditViewProps & { ctx: PageCtx; active: string }) {
  const { ctx, active, ...rest } = props
  const lead = props.admin
    ? 'Who did what, when and from where: sign-ins, changes, backups, restores, downloads and admin actions.'
    : 'Sign-ins to your account and every change, backup, restore and download in your Backups.'
  return (
    <Layout ctx={ctx} title={props.admin ? 'Audit log' : 'Activity log'} active={active}>
      <PageHead title={props.admin ? 'Audit log' : 'Activity log'} lead={lead} />
      <AuditResults {...rest} />
    </Layout>
  )
}
