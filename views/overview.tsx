import { HostBadge } from './host-badge.tsx'
import type { Child } from 'hono/jsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, DangerButton } from './fields.tsx'
import type { PolicyWithLinks } from '../src/db/policies.ts'
import type { Run } from '../src/db/schema.ts'
import type { Job } from '../src/db/job-payloads.ts'
import type { BackupState } from '../src/db/backup-state.ts'
import { nextRuns } from '../src/schedule.ts'
import { scheduleWords } from './policies.tsx'
import { dayWords } from '../src/day-words.ts'
import { formatDuration } from '../src/units.ts'
import { bytes, duration, statusBadge } from './format.ts'
import { VerifiedCell, verifyRunLabel } from './verified.tsx'
import { LiveProgress } from './progress.tsx'
import type { Verification } from '../src/db/schema.ts'

export function Badge(props: { status: string }) {
  const b = statusBadge(props.status)
  return <span class={b.class}>{b.text}</span>
}

export type ActiveItem = {
  job: Job
  run: Run | null
  /** The policy's name: its current one, else the one the job was queued with. */
  policyName: string | null
  /** The policy was deleted after the job was queued. */
  policyGone?: boolean
}

/** What the Activity card and the run page call a queued or running job. */
export function activityLabel(item: Pick<ActiveItem, 'job' | 'policyName' | 'policyGone'>) {
  const { job } = item
  const name = item.policyName
    ? `“${item.policyName}”${item.policyGone ? ' (policy deleted)' : ''}`
    : 'a deleted policy'
  if (job.kind === 'backup') return `Backing up ${name}`
  if (job.kind === 'restore') return 'Restoring'
  if (job.kind === 'rekey') return 'Changing a backup password'
  if (job.kind === 'sync-snapshots') return 'Checking a destination for backups made elsewhere'
  if (job.kind === 'index-snapshot') return 'Reading the list of files in a backup'
  if (job.payload.mode === 'restore') return `Test restore of ${name}`
  return item.policyName ? `Checking ${name}` : 'Checking your backups'
}

/** The job as the object of a sentence: "the backup of “Nightly”", "the restore". */
export function jobWhat(item: Pick<ActiveItem, 'job' | 'policyName'>): string {
  const { job } = item
  const of = item.policyName ? ` of “${item.policyName}”` : ''
  if (job.kind === 'backup') return `the backup${of}`
  if (job.kind === 'restore') return 'the restore'
  if (job.kind === 'rekey') return 'the password change'
  if (job.kind === 'sync-snapshots') return 'the check for backups made elsewhere'
  if (job.kind === 'index-snapshot') return 'the reading of a backup’s file list'
  return job.payload.mode === 'restore' ? `the test restore${of}` : `the check${of}`
}

/** The Cancel button of a queued or running job: a confirmation page without JavaScript. */
export function CancelJob(props: {
  item: Pick<ActiveItem, 'job' | 'policyName'>
  csrf: string
  fromRun?: boolean
}) {
  const { job } = props.item
  const what = jobWhat(props.item)
  return (
    <DangerButton
      action={`/backups/jobs/${job.id}/cancel${props.fromRun ? '?from=run' : ''}`}
      csrf={props.csrf}
      confirm={
        job.status === 'running'
          ? `Stop ${what} now? Your earlier backups are not touched.`
          : `Cancel ${what} before it starts?`
      }
      label="Cancel"
    />
  )
}

/** Live progress of queued and running jobs; polls itself while anything is active. */
export function Activity(props: { items: ActiveItem[]; csrf: string }) {
  const polling = props.items.length > 0
  return (
    <section
      id="activity"
      hx-get={polling ? '/backups/activity' : undefined}
      hx-trigger={polling ? 'every 1s' : undefined}
      hx-swap="outerHTML"
    >
      {props.items.map((item) => {
        const { job, run } = item
        const label = activityLabel(item)
        const stopping = job.status === 'running' && job.cancelRequestedAt !== null
        return (
          <div class="card activity">
            <div class="activity-head">
              <strong>{label}</strong>
              <Badge status={job.status === 'running' ? 'running' : 'queued'} />
              {job.attempts > 1 && <span class="muted">attempt {job.attempts}</span>}
              {run && (
                <a class="muted" href={`/backups/runs/${run.id}`}>
                  Run #{run.number}
                </a>
              )}
              {!stopping && <CancelJob item={item} csrf={props.csrf} />}
            </div>
            {job.status === 'queued' ? (
              <p class="muted small">
                {job.lastError
                  ? `Waiting to try again: ${job.lastError}`
                  : 'Waiting to start: it begins as soon as the runner is free.'}
              </p>
            ) : stopping ? (
              <p class="muted small">Cancelling: stopping the backup and cleaning up…</p>
            ) : (
              <LiveProgress progress={run?.progress ?? null} label={`Progress of ${label}`} />
            )}
          </div>
        )
      })}
    </section>
  )
}

/** A row's state: what the badge says, in colour and in words. */
type RowState =
  | { kind: 'running' | 'queued' | 'healthy' | 'never' | 'paused' }
  | { kind: 'failing'; since: Date; failures: number }
  | { kind: 'incomplete' }

function rowState(
  p: PolicyWithLinks,
  state: BackupState | undefined,
  active: Job | undefined,
): RowState {
  if (active) return { kind: active.status === 'running' ? 'running' : 'queued' }
  if (state?.failingSince) {
    return { kind: 'failing', since: state.failingSince, failures: state.failures }
  }
  if (!p.enabled) return { kind: 'paused' }
  if (!state?.last) return { kind: 'never' }
  return { kind: state.last.status === 'partial' ? 'incomplete' : 'healthy' }
}

const STATE_BADGE = {
  running: ['badge', 'Running'],
  queued: ['badge badge-muted', 'Queued'],
  healthy: ['badge badge-ok', 'Healthy'],
  never: ['badge badge-muted', 'Never run'],
  paused: ['badge badge-muted', 'Paused'],
  failing: ['badge badge-bad', 'Failing'],
  incomplete: ['badge badge-warn', 'Incomplete'],
} as const

/** The full reason of the last result, one click away, and its run. */
function Why(props: { state: BackupState; summary: string }) {
  const last = props.state.last!
  return (
    <details class="why">
      <summary>{props.summary}</summary>
      <p>{last.reason ?? 'No reason was recorded.'}</p>
      <a href={`/backups/runs/${last.runId}`}>Run #{last.runNumber}: every stage and the log</a>
    </details>
  )
}

function StateCell(props: { s: RowState; state: BackupState | undefined; zone: string }) {
  const { s, state, zone } = props
  const [cls, text] = STATE_BADGE[s.kind]
  return (
    <div class="row-state">
      <span class={cls}>{text}</span>{' '}
      {s.kind === 'failing' && (
        <span class="state-words">since {dayWords(s.since, zone, undefined, { lower: true })}</span>
      )}
      {s.kind === 'failing' && s.failures > 1 && (
        <span class="muted small">{s.failures} failed runs in a row</span>
      )}
      {s.kind === 'running' && <span class="muted small">backing up now: progress above</span>}
      {s.kind === 'queued' && <span class="muted small">waiting to start</span>}
      {s.kind === 'never' && <span class="muted small">no backup has been made yet</span>}
      {s.kind === 'paused' && <span class="muted small">no scheduled backups</span>}
      {state?.last && state.last.status !== 'success' && (
        <Why
          state={state}
          summary={
            state.last.status === 'partial'
              ? 'What is missing'
              : s.kind === 'failing'
                ? 'Why it failed'
                : 'Why the last backup failed'
          }
        />
      )}
    </div>
  )
}

function LastGood(props: { state: BackupState | undefined; zone: string }) {
  const good = props.state?.lastGood
  if (!good) {
    return props.state?.last ? (
      <span class="text-bad">None has succeeded yet</span>
    ) : (
      <span class="muted nowrap">None yet</span>
    )
  }
  // One block: a phone's card layout puts each child of a cell side by side.
  return (
    <div>
      <a class="nowrap" href={`/backups/runs/${good.runId}`}>
        {dayWords(good.at, props.zone)}
      </a>
      <div class="muted small">
        {bytes(good.bytes)} added
        {good.tookMs !== null ? ` · took ${formatDuration(good.tookMs)}` : ''}
      </div>
    </div>
  )
}

function NextRun(props: { p: PolicyWithLinks; zone: string }) {
  const { p } = props
  if (!p.enabled) return <span class="muted">Paused</span>
  const next = nextRuns(p.schedule, p.timezone, 1)
  if (!next.ok) return <span class="muted">—</span>
  return (
    <>
      {dayWords(next.next[0]!, props.zone)}
      <div class="muted small schedule-words">{scheduleWords(p, props.zone)}</div>
    </>
  )
}

/** A run's reason in history: in full when short, else its start and the rest one click away. */
function Reason(props: { text: string | null }) {
  const text = props.text ?? ''
  if (text.length <= 90) return <>{text}</>
  return (
    <details class="why">
      <summary>{text.slice(0, 80).replace(/\s+\S*$/, '')}…</summary>
      <p>{text}</p>
    </details>
  )
}

export type HistoryRow = Run & {
  policyName: string | null
  /** The run's policy was deleted since. */
  policyGone?: boolean
  verifyMode?: Verification['mode'] | null
  /** A backup of a policy the host provides. */
  host?: boolean
}

export function OverviewPage(props: {
  ctx: PageCtx
  /** The tenant's time zone: every time on the page is in it. */
  zone: string
  policies: PolicyWithLinks[]
  destinationCount: number
  states: Map<string, BackupState>
  /** Latest test restore per `<policyId>:<destinationId>`. */
  verified?: Map<string, Verification>
  active: ActiveItem[]
  history: HistoryRow[]
  /** Usage against the admin's limits (views/usage.tsx), when any applies. */
  usage?: Child
}) {
  const { zone } = props
  const rows = props.policies.flatMap((p) => p.destinations.map((d) => ({ p, d })))
  const backupOf = new Map(
    props.active
      .filter((a) => a.job.kind === 'backup')
      .map((a) => [a.job.kind === 'backup' ? a.job.payload.policyId : 0, a.job]),
  )
  return (
    <Layout ctx={props.ctx} title="Overview" active="overview">
      <PageHead
        title="Backups"
        lead="Every policy and destination, and how its backups are doing."
      />
      <Activity items={props.active} csrf={props.ctx.csrf} />
      {rows.length === 0 ? (
        <div class="card empty">
          <h2>No backups yet</h2>
          {props.destinationCount === 0 ? (
            <p>
              Start by <a href="/backups/destinations/new">adding a destination</a>, then create a
              policy under <a href="/backups/policies">Policies</a>.
            </p>
          ) : (
            <p>
              You have a destination. <a href="/backups/policies/new">Create a policy</a> to say
              what to back up and when.
            </p>
          )}
        </div>
      ) : (
        <div class="card table-card">
          <table class="overview-table cards">
            <thead>
              <tr>
                <th>Policy</th>
                <th>Destination</th>
                <th>Status</th>
                <th>Last good backup</th>
                <th>Next run</th>
                <th>Verified restore</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {rows.map(({ p, d }, i) => {
                const state = props.states.get(`${p.id}:${d.id}`)
                const s = rowState(p, state, backupOf.get(p.id))
                const first = rows.findIndex((r) => r.p.id === p.id) === i
                return (
                  <tr class={`state-${s.kind}`}>
                    <td class="strong policy-cell">
                      {first && p.name}
                      {first && p.providerPolicyId !== null && (
                        <>
                          {' '}
                          <HostBadge />
                        </>
                      )}
                    </td>
                    <td data-label="Destination">{d.name}</td>
                    <td data-label="Status">
                      <StateCell s={s} state={state} zone={zone} />
                    </td>
                    <td data-label="Last good backup">
                      <LastGood state={state} zone={zone} />
                    </td>
                    <td class="nowrap" data-label={first ? 'Next run' : undefined}>
                      {first && <NextRun p={p} zone={zone} />}
                    </td>
                    <td data-label="Verified restore">
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
                            title="Restore the latest backup into a sandbox, check files and databases, then remove it"
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
            <table class="history-table">
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
                {props.history.map((r) => {
                  const name = r.policyName
                    ? `“${r.policyName}”${r.policyGone ? ' (policy deleted)' : ''}`
                    : 'of a deleted policy'
                  return (
                    <tr>
                      <td>
                        <a href={`/backups/runs/${r.id}`}>#{r.number}</a>
                      </td>
                      <td>
                        {r.kind === 'backup'
                          ? `Backup ${name}${r.host ? ' by your host' : ''}`
                          : r.kind === 'restore'
                            ? 'Restore'
                            : r.kind === 'rekey'
                              ? 'Password change'
                              : verifyRunLabel(r.verifyMode ?? null, r.policyName)}
                      </td>
                      <td>
                        <Badge status={r.status} />
                      </td>
                      <td class="muted nowrap">
                        {r.startedAt ? dayWords(r.startedAt, zone) : '—'}
                      </td>
                      <td>
                        {r.status === 'running' ? 'running' : duration(r.startedAt, r.finishedAt)}
                      </td>
                      <td class="muted history-reason">
                        <Reason text={r.error} />
                      </td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Layout>
  )
}
