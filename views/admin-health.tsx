import { createContext, useContext, type Child } from 'hono/jsx'
import type {
  HealthFilter,
  HealthPage,
  HealthQuery,
  HealthRow,
  HealthSort,
} from '../src/db/health-list.ts'
import { DEFAULT_HEALTH_QUERY, HEALTH_PAGE_SIZE, STALE_MS } from '../src/db/health-list.ts'
import type { NodeState } from '../src/db/runner-heartbeats.ts'
import { bytes, relative } from './format.ts'

/**
 * Whether a node's runner answers (nodeState over one listHeartbeats per request). The route
 * provides it around the page or fragment, so the health table reads it however deep it is
 * rendered; without a provider every node counts as answering.
 */
export const NodeStates = createContext<(node: string | null) => NodeState>(() => ({
  state: 'ok',
}))

/** Plain words for a tenant whose node has no answering runner; null while one answers. */
function noRunnerReason(node: string | null, state: NodeState): string | null {
  if (state.state === 'ok') return null
  const where = node === null ? 'on this server' : `on node ${node}`
  return `No runner is answering ${where}: backups of this tenant are not running.`
}

/** `/admin/tenants` with the query's non-default parts, so links stay short and shareable. */
export function healthHref(query: HealthQuery, change: Partial<HealthQuery> = {}): string {
  const next = { ...query, ...change }
  const params = new URLSearchParams()
  for (const key of ['filter', 'q', 'sort', 'dir', 'page'] as const) {
    if (next[key] !== DEFAULT_HEALTH_QUERY[key]) params.set(key, String(next[key]))
  }
  const text = params.toString()
  return text ? `/admin/tenants?${text}` : '/admin/tenants'
}

const FILTER_LABELS: Record<HealthFilter, string> = {
  all: 'All',
  failing: 'Failing',
  stale: 'Stale',
  never: 'Never backed up',
  missed: 'Missed schedule',
  disabled: 'Disabled',
}

const COLUMNS: { sort: HealthSort | null; label: string; first?: 'asc' | 'desc' }[] = [
  { sort: 'name', label: 'Tenant', first: 'asc' },
  { sort: null, label: 'Health' },
  { sort: 'last-success', label: 'Last success', first: 'desc' },
  { sort: 'streak', label: 'Streak', first: 'desc' },
  { sort: 'missed', label: 'Missed', first: 'desc' },
  { sort: 'stored', label: 'Stored', first: 'desc' },
  { sort: 'next-run', label: 'Next run', first: 'asc' },
  { sort: 'verified', label: 'Verified restore', first: 'desc' },
]

/** Sends a link through htmx into the table, keeping the address bar shareable. */
function Link(props: { href: string; class?: string; current?: boolean; children: Child }) {
  return (
    <a
      href={props.href}
      hx-get={props.href}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
    >
      {props.children}
    </a>
  )
}

function SortHeader(props: { query: HealthQuery; col: (typeof COLUMNS)[number] }) {
  const { query, col } = props
  if (!col.sort) return <th>{col.label}</th>
  const active = query.sort === col.sort
  const dir = active ? (query.dir === 'asc' ? 'desc' : 'asc') : (col.first ?? 'asc')
  const arrow = active ? (query.dir === 'asc' ? ' ▲' : ' ▼') : ''
  const sortState = active ? (query.dir === 'asc' ? 'ascending' : 'descending') : undefined
  return (
    <th aria-sort={sortState}>
      <Link
        href={healthHref(query, { sort: col.sort, dir, page: 1 })}
        class={active ? 'sort active' : 'sort'}
      >
        {col.label}
        {arrow}
      </Link>
    </th>
  )
}

/** Plain words for what is wrong with a tenant's backups, worst first. */
function HealthCell(props: { row: HealthRow; now: number; noRunner: string | null }) {
  const { row, now, noRunner } = props
  const stale = row.lastSuccessAt && now - row.lastSuccessAt.getTime() > STALE_MS
  const badges = []
  // First: while no runner answers, nothing else about this tenant's backups can change.
  if (noRunner) badges.push(<span class="badge badge-bad">No runner</span>)
  if (row.failingStreak > 0) {
    badges.push(
      <span class="badge badge-bad">
        Failing{row.failingStreak > 1 ? ` ×${row.failingStreak}` : ''}
      </span>,
    )
  }
  if (!row.lastSuccessAt) badges.push(<span class="badge badge-warn">Never backed up</span>)
  else if (stale) badges.push(<span class="badge badge-warn">Stale</span>)
  if (row.missedCount > 0)
    badges.push(<span class="badge badge-warn">Missed {row.missedCount}</span>)
  if (row.lastVerifiedOk === false)
    badges.push(<span class="badge badge-bad">Restore test failed</span>)
  if (row.disabled) badges.push(<span class="badge badge-muted">Disabled</span>)
  if (!badges.length) badges.push(<span class="badge badge-ok">OK</span>)
  return (
    <td class="health-cell">
      <span class="badges">{badges}</span>
      {noRunner && <p class="reason">{noRunner}</p>}
      {row.failingStreak > 0 && row.lastError && <p class="reason">{row.lastError}</p>}
    </td>
  )
}

function Row(props: { row: HealthRow; now: number }) {
  const { row: r, now } = props
  const noRunner = noRunnerReason(r.node, useContext(NodeStates)(r.node))
  return (
    <tr class={r.failingStreak > 0 || noRunner ? 'row-bad' : undefined}>
      <td>
        <a class="strong" href={`/admin/tenants/${r.tenantId}/runs`}>
          {r.name}
        </a>
        <div class="muted small mono home" title={r.homeDir}>
          {r.homeDir}
        </div>
        {r.node !== null && (
          <div class="muted small home" title={`Node ${r.node}`}>
            Node {r.node}
          </div>
        )}
      </td>
      <HealthCell row={r} now={now} noRunner={noRunner} />
      <td>{r.lastSuccessAt ? relative(r.lastSuccessAt, now) : <span class="muted">never</span>}</td>
      <td>{r.failingStreak || <span class="muted">0</span>}</td>
      <td>{r.missedCount || <span class="muted">0</span>}</td>
      <td title={`${r.snapshotCount} snapshot(s)`}>{bytes(r.storedBytes)}</td>
      <td>{r.nextRunAt ? relative(r.nextRunAt, now) : <span class="muted">none</span>}</td>
      <td>
        {r.lastVerifiedAt ? (
          <span class={r.lastVerifiedOk ? undefined : 'bad'}>
            {relative(r.lastVerifiedAt, now)} {r.lastVerifiedOk ? '✓' : '✗ failed'}
          </span>
        ) : (
          <span class="muted">never</span>
        )}
      </td>
    </tr>
  )
}

/**
 * The swappable part of Admin > Tenants: filter tabs with counts, the sortable table and the
 * pager. Every link is a plain URL (works without JavaScript) that htmx swaps in place.
 */
export function HealthTable(props: {
  query: HealthQuery
  result: HealthPage
  counts: Record<HealthFilter, number>
  now: Date
}) {
  const { query, result } = props
  const now = props.now.getTime()
  const from = result.total ? (result.page - 1) * HEALTH_PAGE_SIZE + 1 : 0
  const to = (result.page - 1) * HEALTH_PAGE_SIZE + result.rows.length
  return (
    <section id="tenant-health" hx-target="#tenant-health" hx-swap="outerHTML" hx-push-url="true">
      {/* The search form sits outside this fragment (typing must keep focus); these carry the rest of the state. */}
      <input type="hidden" name="filter" value={query.filter} form="health-search" />
      <input type="hidden" name="sort" value={query.sort} form="health-search" />
      <input type="hidden" name="dir" value={query.dir} form="health-search" />
      <nav class="filter-tabs" aria-label="Filter tenants">
        {(Object.keys(FILTER_LABELS) as HealthFilter[]).map((f) => (
          <Link
            href={healthHref(query, { filter: f, page: 1 })}
            class={f === query.filter ? 'tab active' : 'tab'}
            current={f === query.filter}
          >
            {FILTER_LABELS[f]} <span class="count">{props.counts[f]}</span>
          </Link>
        ))}
      </nav>
      {result.rows.length === 0 ? (
        <div class="card empty">
          <h2>No tenants match</h2>
          <p>
            {query.q
              ? `No tenant name contains “${query.q}” here.`
              : 'Nothing to show for this filter.'}
          </p>
        </div>
      ) : (
        <div class="card table-card">
          <table class="health">
            <thead>
              <tr>
                {COLUMNS.map((col) => (
                  <SortHeader query={query} col={col} />
                ))}
              </tr>
            </thead>
            <tbody>
              {result.rows.map((row) => (
                <Row row={row} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        <span class="muted">
          {from}–{to} of {result.total} · page {result.page} of {result.pages}
        </span>
        {result.page > 1 && (
          <Link href={healthHref(query, { page: result.page - 1 })} class="button small">
            ← Previous
          </Link>
        )}
        {result.page < result.pages && (
          <Link href={healthHref(query, { page: result.page + 1 })} class="button small">
            Next →
          </Link>
        )}
      </nav>
    </section>
  )
}

/** The name search; submits with the table's filter and sort (hidden inputs in the table). */
export function HealthSearch(props: { query: HealthQuery }) {
  return (
    <form
      id="health-search"
      class="health-search"
      method="get"
      action="/admin/tenants"
      role="search"
      hx-get="/admin/tenants"
      hx-target="#tenant-health"
      hx-swap="outerHTML"
      hx-push-url="true"
      hx-trigger="submit, input changed delay:300ms from:find input[name=q]"
    >
      <input
        type="search"
        name="q"
        value={props.query.q}
        placeholder="Search tenant names"
        aria-label="Search tenant names"
        autocomplete="off"
      />
      <button class="button" type="submit">
        Search
      </button>
    </form>
  )
}
