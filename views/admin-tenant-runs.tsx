import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Badge } from './overview.tsx'
import type { Run, Tenant, TenantHealth } from '../src/db/schema.ts'
import { STALE_MS } from '../src/db/health-list.ts'
import { bytes, duration, relative } from './format.ts'

const kindLabel = {
  backup: 'Backup',
  restore: 'Restore',
  verify: 'Verify',
  rekey: 'Password change',
} as const

function Facts(props: { health: TenantHealth | undefined; now: number }) {
  const h = props.health
  const stale = h?.lastSuccessAt && props.now - h.lastSuccessAt.getTime() > STALE_MS
  return (
    <section class="card">
      <dl class="facts">
        <div>
          <dt>Last success</dt>
          <dd>
            {h?.lastSuccessAt ? relative(h.lastSuccessAt, props.now) : 'Never backed up'}
            {stale && ' (stale)'}
          </dd>
        </div>
        <div>
          <dt>Failing streak</dt>
          <dd>
            {h?.failingStreak ? (
              <span class="badge badge-bad">Failing ×{h.failingStreak}</span>
            ) : (
              'None'
            )}
          </dd>
        </div>
        <div>
          <dt>Missed slots</dt>
          <dd>{h?.missedCount ?? 0}</dd>
        </div>
        <div>
          <dt>Stored</dt>
          <dd>
            {bytes(h?.storedBytes ?? 0)} in {h?.snapshotCount ?? 0} snapshot(s)
          </dd>
        </div>
        <div>
          <dt>Next run</dt>
          <dd>{h?.nextRunAt ? relative(h.nextRunAt, props.now) : 'Not scheduled'}</dd>
        </div>
        <div>
          <dt>Last verified restore</dt>
          <dd>
            {h?.lastVerifiedAt
              ? `${relative(h.lastVerifiedAt, props.now)}, ${h.lastVerifiedOk ? 'passed' : 'FAILED'}`
              : 'Never'}
          </dd>
        </div>
      </dl>
      {h?.failingStreak && h.lastError ? <p class="reason">Last error: {h.lastError}</p> : null}
    </section>
  )
}

/**
 * Admin drill-down: one tenant's health and run history (newest first, paginated). Names and
 * results only: no settings values, secrets or file contents.
 */
export function TenantRunsPage(props: {
  ctx: PageCtx
  tenant: Tenant
  health: TenantHealth | undefined
  runs: (Run & { policyName: string | null })[]
  page: number
  pages: number
  total: number
  now: Date
}) {
  const t = props.tenant
  const base = `/admin/tenants/${t.id}/runs`
  const now = props.now.getTime()
  return (
    <Layout ctx={props.ctx} title={`${t.name}: runs`} active="tenants">
      <PageHead
        title={t.name}
        lead={`Backup health and run history${t.disabled ? ' (tenant disabled)' : ''}.`}
      >
        <a class="button" href="/admin/tenants">
          ← All tenants
        </a>
        <a class="button" href={`/admin/tenants/${t.id}`}>
          Edit tenant
        </a>
      </PageHead>
      <Facts health={props.health} now={now} />
      <h2 class="section-title">Runs</h2>
      {props.runs.length === 0 ? (
        <div class="card empty">
          <h2>No runs yet</h2>
          <p>This tenant has not backed up, restored or verified anything.</p>
        </div>
      ) : (
        <div class="card table-card">
          <table>
            <thead>
              <tr>
                <th>Run</th>
                <th>Policy</th>
                <th>Result</th>
                <th>Started</th>
                <th>Took</th>
                <th>Added</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {props.runs.map((r) => (
                <tr
                  class={
                    r.status === 'failed' || r.status === 'interrupted' ? 'row-bad' : undefined
                  }
                >
                  <td class="strong">
                    <a href={`${base}/${r.id}`}>
                      {kindLabel[r.kind]} #{r.number}
                    </a>
                    <span class="muted small"> · {r.trigger}</span>
                  </td>
                  <td>{r.policyName ?? '—'}</td>
                  <td>
                    <Badge status={r.status} />
                  </td>
                  <td>{relative(r.startedAt ?? r.createdAt, now)}</td>
                  <td>{r.finishedAt ? duration(r.startedAt, r.finishedAt) : '—'}</td>
                  <td>{bytes(r.bytes)}</td>
                  <td class="reason-cell">{r.error ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        <span class="muted">
          {props.total} run(s) · page {props.page} of {props.pages}
        </span>
        {props.page > 1 && (
          <a class="button small" href={`${base}?page=${props.page - 1}`}>
            ← Newer
          </a>
        )}
        {props.page < props.pages && (
          <a class="button small" href={`${base}?page=${props.page + 1}`}>
            Older →
          </a>
        )}
      </nav>
    </Layout>
  )
}
