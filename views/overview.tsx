import { HostBadge } from './host-badge.tsx'
import type { Child } from 'hono/jsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf } from './fields.tsx'
import type { PolicyWithLinks } from '../src/db/policies.ts'
import type { Run, RunStage } from '../src/db/schema.ts'
import type { Job } from '../src/db/job-payloads.ts'
import { formatInZone, nextRuns } from '../src/schedule.ts'
import { bytes, duration, relative, statusBadge } from './format.ts'
import { VerifiedCell, verifyRunLabel } from './verified.tsx'
import type { Verification } from '../src/db/schema.ts'

export function Badge(props: { status: string }) {
  const b = statusBadge(props.status)
  return <span class={b.class}>{b.text}</span>
}

export type LastResult = { run: Run; stage: RunStage }

export type ActiveItem = { job: Job; run: Run | null; policyName: string | null }

/** Live progress of queued and running jobs; polls itself while anything is active. */
export function Activity(props: { items: ActiveItem[] }) {
  const polling = props.items.length > 0
  return (
    <section
      id="activity"
      hx-get={polling ? '/backups/activity' : undefined}
      hx-trigger={polling ? 'every 1s' : undefined}
      hx-swap="outerHTML"
    >
      {props.items.map(({ job, run, policyName }) => {
        const p = (run?.progress ?? {}) as Record<string, number | string>
        const percent = Number(p.percent ?? 0)
        const mode = job.kind === 'verify' ? job.payload.mode : undefined
        const label =
          job.kind === 'backup'
            ? `Backing up “${policyName ?? '?'}”`
            : job.kind === 'restore'
              ? 'Restoring'
              : job.kind === 'rekey'
                ? 'Changing a repository password'
                : mode === 'restore'
                  ? `Test restore of “${policyName ?? '?'}”`
                  : `Checking${policyName ? ` “${policyName}”` : ''}`
        return (
          <div class="card activity">
            <div class="activity-head">
              <strong>{label}</strong>
              <Badge status={job.status === 'running' ? 'running' : 'queued'} />
              {job.attempts > 1 && <span class="muted">attempt {job.attempts}</span>}
              {run && (
                <a class="muted" href={`/backups/runs/${run.id}`}>
                  details
                </a>
              )}
            </div>
            {/* <progress>, not a styled div: the CSP forbids inline style attributes. */}
            <progress
              class="progress"
              max={100}
              value={job.status === 'running' && p.stage ? percent : undefined}
              aria-label="Progress"
            >
              {percent}%
            </progress>
            <p class="muted small">
              {job.status === 'queued'
                ? job.lastError
                  ? `Waiting to retry: ${job.lastError}`
                  : 'Waiting for the runner…'
                : p.stage === 'snapshot'
                  ? `${percent}% · ${p.filesDone ?? 0} of ${p.totalFiles ?? '?'} files · ${bytes(Number(p.bytesDone ?? 0))} of ${bytes(Number(p.totalBytes ?? 0))} · to ${p.destination}`
                  : typeof p.text === 'string'
                    ? p.text
                    : 'Preparing…'}
            </p>
          </div>
        )
      })}
    </section>
  )
}

export function OverviewPage(props: {
  ctx: PageCtx
  policies: PolicyWithLinks[]
  destinationCount: number
  last: Map<string, LastResult>
  /** Latest test restore per `<policyId>:<destinationId>`. */
  verified?: Map<string, Verification>
  active: ActiveItem[]
  history: (Run & {
    policyName: string | null
    verifyMode?: Verification['mode'] | null
    /** A backup of a policy the host provides. */
    host?: boolean
  })[]
  /** Usage against the admin's limits (views/usage.tsx), when any applies. */
  usage?: Child
}) {
  const rows = props.policies.flatMap((p) => p.destinations.map((d) => ({ p, d })))
  return (
    <Layout ctx={props.ctx} title="Overview" active="overview">
      <PageHead
        title="Backups"
        lead="Every policy and destination, and how its backups are doing."
      />
      <Activity items={props.active} />
      {rows.length === 0 ? (
        <div class="card empty">
          <h2>No backups yet</h2>
          {props.destinationCount === 0 ? (
            <p>
              Start by <a href="/backups/destinations/new">adding a destination</a>, then create a
              policy under <a href="/backups/settings">Settings</a>.
            </p>
          ) : (
            <p>
              You have a destination. <a href="/backups/settings/new">Create a policy</a> to say
              what to back up and when.
            </p>
          )}
        </div>
      ) : (
        <div class="card table-card">
          <table>
            <thead>
              <tr>
                <th>Policy</th>
                <th>Destination</th>
                <th>Last backup</th>
                <th>Size added</th>
                <th>Took</th>
                <th>Next run</th>
                <th>Verified restore</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {rows.map(({ p, d }, i) => {
                const next = nextRuns(p.schedule, p.timezone, 1)
                const last = props.last.get(`${p.id}:${d.id}`)
                const first = rows.findIndex((r) => r.p.id === p.id) === i
                return (
                  <tr>
                    <td class="strong">
                      {first && p.name}
                      {first && p.providerPolicyId !== null && (
                        <>
                          {' '}
                          <HostBadge />
                        </>
                      )}
                    </td>
                    <td>{d.name}</td>
                    <td>
                      {last ? (
                        <a href={`/backups/runs/${last.run.id}`} title={last.stage.message ?? ''}>
                          <Badge status={last.stage.status} />{' '}
                          <span class="muted">{relative(last.stage.finishedAt)}</span>
                        </a>
                      ) : (
                        <span class="badge badge-muted">No backups yet</span>
                      )}
                    </td>
                    <td class="nowrap">{last ? bytes(last.stage.bytes) : '—'}</td>
                    <td>{last ? duration(last.stage.startedAt, last.stage.finishedAt) : '—'}</td>
                    <td class="nowrap">
                      {p.enabled && next.ok ? (
                        <span title={formatInZone(next.next[0]!, p.timezone)}>
                          {relative(next.next[0]!)}
                        </span>
                      ) : (
                        'Paused'
                      )}
                    </td>
                    <td>
                      <VerifiedCell v={props.verified?.get(`${p.id}:${d.id}`)} />
                    </td>
                    <td class="actions row-actions">
                      {first && (
                        <form method="post" action={`/backups/policies/${p.id}/run`}>
                          <Csrf token={props.ctx.csrf} />
                          <button class="button small primary" type="submit">
                            Back up now
                          </button>
                        </form>
                      )}
                      {first && (
                        <form method="post" action={`/backups/policies/${p.id}/verify`}>
                          <Csrf token={props.ctx.csrf} />
                          <button
                            class="button small"
                            type="submit"
                            title="Restore the latest snapshot into a sandbox, check files and databases, then remove it"
                          >
                            Test restore now
                          </button>
                        </form>
                      )}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
      {props.usage}
      {props.history.length > 0 && (
        <>
          <h2 class="section-title">Run history</h2>
          <div class="card table-card">
            <table>
              <thead>
                <tr>
                  <th>Run</th>
                  <th>What</th>
                  <th>Result</th>
                  <th>Started</th>
                  <th>Took</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody>
                {props.history.map((r) => (
                  <tr>
                    <td>
                      <a href={`/backups/runs/${r.id}`}>#{r.id}</a>
                    </td>
                    <td>
                      {r.kind === 'backup'
                        ? `Backup “${r.policyName ?? 'deleted policy'}”${r.host ? ' by your host' : ''}`
                        : r.kind === 'restore'
                          ? 'Restore'
                          : r.kind === 'rekey'
                            ? 'Password change'
                            : verifyRunLabel(r.verifyMode ?? null, r.policyName)}
                    </td>
                    <td>
                      <Badge status={r.status} />
                    </td>
                    <td class="muted">{relative(r.startedAt)}</td>
                    <td>{duration(r.startedAt, r.finishedAt)}</td>
                    <td class="muted clip">{r.error ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Layout>
  )
}
