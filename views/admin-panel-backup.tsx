import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Checkbox, Csrf, Row, type Errors } from './fields.tsx'
import { bytes } from './format.ts'
import { formatDuration } from '../src/units.ts'
import type { SelfBackupResult } from '../src/db/self-backup.ts'
import { snapshotWhen } from '../src/zoned.ts'

export type PanelBackupValues = { destinationId: string; time: string; enabled: boolean }

export type PanelBackupView = {
  destinations: { id: number; name: string; type: string }[]
  values: PanelBackupValues
  /** Whether a destination is saved (Back up now needs one). */
  configured: boolean
  last: SelfBackupResult | null
  running: Date | null
  /** A Back up now waiting for the runner (the web process runs none). */
  requested: Date | null
  next: Date | null
  timeZone: string
  hasPassword: boolean
  /** The password, only in the answer to the request that made it. */
  revealed: string | null
  keyFromEnv: boolean
}

/** "Thu 3 Dec 2026, 03:00" in the server's zone, which the page names once at its foot. */
function when(date: Date | number, timeZone: string): string {
  return snapshotWhen(new Date(date), timeZone)
}

/** The last result in plain words; polls itself while a backup runs. */
export function PanelBackupStatus(props: { view: PanelBackupView }) {
  const { last, running, requested, next, timeZone } = props.view
  const busy = running ?? requested
  return (
    <section
      id="panel-backup-status"
      class="card"
      hx-get={busy ? '/admin/panel-backup/status' : undefined}
      hx-trigger={busy ? 'every 3s' : undefined}
      hx-swap="outerHTML"
    >
      <h2>Last panel backup</h2>
      {running && (
        <p>
          <span class="badge">Running</span> since {when(running, timeZone)}.
        </p>
      )}
      {!running && requested && (
        <p>
          <span class="badge badge-muted">Requested</span> {when(requested, timeZone)}: waiting for
          the runner.
        </p>
      )}
      {!last ? (
        <p class="muted">No panel backup has run yet.</p>
      ) : last.ok ? (
        <p>
          <span class="badge badge-ok">Succeeded</span> {when(last.at, timeZone)}:{' '}
          {bytes(last.bytes)} to “{last.destination}”, snapshot{' '}
          <span class="mono">{last.snapshot?.slice(0, 8) ?? '—'}</span>, took{' '}
          {formatDuration(last.durationMs)}.
        </p>
      ) : (
        <p>
          <span class="badge badge-bad">Failed</span> {when(last.at, timeZone)}
          {last.destination ? ` (to “${last.destination}”)` : ''}: {last.error}
        </p>
      )}
      {last?.retentionError && (
        <p class="field-warning">Older panel backups were not thinned out: {last.retentionError}</p>
      )}
      <p class="muted small">
        {next ? `Next: ${when(next, timeZone)}.` : 'The daily panel backup is off.'}
      </p>
    </section>
  )
}

function PasswordCard(props: { view: PanelBackupView }) {
  const v = props.view
  return (
    <section class="card">
      <h2>Password</h2>
      {v.revealed ? (
        <div class="flash flash-ok reveal" role="status">
          <p class="strong">The panel backup password</p>
          <p class="mono secret" data-testid="panel-backup-password">
            {v.revealed}
          </p>
          <p class="small">
            Write this down: without it the panel backup cannot be restored. It is shown only now.
          </p>
        </div>
      ) : v.hasPassword ? (
        <p>
          The password was shown once when it was made. On the server,{' '}
          <code>npx panel self-backup --show-password</code> prints it again.
        </p>
      ) : (
        <p class="muted">A password is made when you first save a destination here.</p>
      )}
      {v.keyFromEnv && (
        <p class="field-warning">
          The master key comes from PANEL_SECRET_KEY, so the panel backup does not hold it: keep
          that variable. A restored panel needs the same value.
        </p>
      )}
      <p class="help">
        To rebuild on a fresh server: install the panel, add the same provider destination, then run{' '}
        <code>npx panel self-restore --destination NAME</code> with this password on stdin.
      </p>
    </section>
  )
}

/** Admin > Panel backup: destination, daily time, on/off, Back up now, last result, password. */
export function AdminPanelBackupPage(props: {
  ctx: PageCtx
  view: PanelBackupView
  errors: Errors
}) {
  const { view, errors } = props
  const v = view.values
  return (
    <Layout ctx={props.ctx} title="Panel backup" active="panel-backup">
      <PageHead
        title="Panel backup"
        lead="A daily copy of the panel itself (its database, master key and settings) on one of your provider destinations, to rebuild this panel on a fresh server."
      >
        <form method="post" action="/admin/panel-backup/run">
          <Csrf token={props.ctx.csrf} />
          <button
            class="button primary"
            type="submit"
            disabled={!view.configured || !!view.running || !!view.requested}
          >
            Back up now
          </button>
        </form>
      </PageHead>
      <PasswordCardIfRevealed view={view} />
      <PanelBackupStatus view={view} />
      <form method="post" action="/admin/panel-backup" class="card form" novalidate>
        <Csrf token={props.ctx.csrf} />
        <h2>Settings</h2>
        <Row
          id="f-destinationId"
          label="Destination"
          error={errors.destinationId}
          help="One of your provider destinations. The backup goes under its _panel folder; a Local one must lie outside the data folder."
        >
          {view.destinations.length === 0 ? (
            <p class="muted">
              No provider destination yet: add one under Admin &gt; Destinations, or with{' '}
              <code>npx panel destination add --admin NAME --type TYPE …</code>
            </p>
          ) : (
            <select
              id="f-destinationId"
              name="destinationId"
              aria-invalid={errors.destinationId ? 'true' : undefined}
            >
              <option value="">Choose…</option>
              {view.destinations.map((d) => (
                <option value={String(d.id)} selected={String(d.id) === v.destinationId}>
                  {d.name} ({d.type})
                </option>
              ))}
            </select>
          )}
        </Row>
        <Row
          id="f-time"
          label="Daily at"
          error={errors.time}
          help={`Server time zone: ${view.timeZone}.`}
        >
          <input
            id="f-time"
            name="time"
            type="time"
            value={v.time}
            aria-invalid={errors.time ? 'true' : undefined}
          />
        </Row>
        <Checkbox name="enabled" label="Back up the panel every day" checked={v.enabled} />
        <div class="form-actions">
          <button class="button primary" type="submit">
            Save
          </button>
        </div>
      </form>
      {!view.revealed && <PasswordCard view={view} />}
    </Layout>
  )
}

/** A freshly made password goes first, above everything else on the page. */
function PasswordCardIfRevealed(props: { view: PanelBackupView }) {
  return props.view.revealed ? <PasswordCard view={props.view} /> : null
}
