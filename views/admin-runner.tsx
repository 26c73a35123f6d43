import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, DangerButton, TextInput, type Errors } from './fields.tsx'
import { Badge } from './overview.tsx'
import { LiveProgress } from './progress.tsx'
import { bytes, duration, relative } from './format.ts'
import type { QueuedJob, RunningJob } from '../src/db/runner-queue.ts'
import { isStale, type RunnerHeartbeat } from '../src/db/runner-heartbeats.ts'
import { dayTime, serverZone } from '../src/zoned.ts'

export type RunnerLive = {
  paused: boolean
  running: RunningJob[]
  queue: QueuedJob[]
  counts: { queued: number; due: number }
}

export type RunnerFormValues = { concurrency: string; uploadLimit: string }

const kindLabel = {
  backup: 'Backup',
  restore: 'Restore',
  verify: 'Verify',
  rekey: 'Password change',
  'sync-snapshots': 'Backup list refresh',
  'index-snapshot': 'File list of a backup',
} as const

/** In the server's zone, which the page names once at its foot. */
function time(date: Date): string {
  return dayTime(date, serverZone())
}

function waitText(job: QueuedJob, paused: boolean): string {
  if (job.wait === 'disabled') return 'Tenant disabled: waits until enabled'
  if (job.wait === 'busy') return 'Waits for this tenant’s running job'
  if (job.wait === 'later')
    return job.attempts > 0 ? `Retry ${relative(job.runAt)}` : `Due ${relative(job.runAt)}`
  return paused ? 'Due: waits for resume' : 'Due now'
}

function Progress(props: { job: RunningJob }) {
  const p = (props.job.run?.progress ?? {}) as Record<string, number | string>
  // A backup's phases and the steps of every job, in the tenant's Overview words: never a
  // made-up share (restic's 100% while it still uploads).
  if (p.phase !== undefined || typeof p.text === 'string') {
    return (
      <div class="runner-progress">
        <LiveProgress progress={p} label={`Progress of job ${props.job.id}`} />
      </div>
    )
  }
  const percent = Math.max(0, Math.min(100, Number(p.percent ?? 0)))
  const known = p.stage !== undefined
  return (
    <div class="runner-progress">
      {/* <progress>, not a styled div: the CSP forbids inline style attributes. */}
      <progress
        class="progress"
        max={100}
        value={known ? percent : undefined}
        aria-label={`Progress of job ${props.job.id}`}
      >
        {percent}%
      </progress>
      <span class="muted small">
        {known
          ? `${percent}% · ${p.filesDone ?? 0} of ${p.totalFiles ?? '?'} files · ${bytes(Number(p.bytesDone ?? 0))} of ${bytes(Number(p.totalBytes ?? 0))}${p.destination ? ` · to ${p.destination}` : ''}`
          : 'Preparing…'}
      </span>
    </div>
  )
}

/**
 * Running jobs and the queue. Polls itself every 2 s while a job runs or a due job may start,
 * and stops polling (by rendering without the trigger) once all is quiet.
 */
export function RunnerLiveSection(props: { csrf: string; live: RunnerLive }) {
  const { running, queue, counts, paused } = props.live
  const polling = running.length > 0 || (!paused && counts.due > 0)
  return (
    <section
      id="runner-live"
      hx-get={polling ? '/admin/runner/live' : undefined}
      hx-trigger={polling ? 'every 2s' : undefined}
      hx-swap="outerHTML"
    >
      <h2 class="section-title">Running now ({running.length})</h2>
      {running.length === 0 ? (
        <div class="card empty-line muted">No job is running.</div>
      ) : (
        <div class="card table-card">
          <table>
            <thead>
              <tr>
                <th>Tenant</th>
                <th>Job</th>
                <th class="wide">Progress</th>
                <th>Started</th>
                <th>Attempt</th>
              </tr>
            </thead>
            <tbody>
              {running.map((job) => (
                <tr>
                  <td class="strong">
                    <a href={`/admin/tenants/${job.tenantId}`}>{job.tenantName}</a>
                  </td>
                  <td>
                    {kindLabel[job.kind]}
                    {job.policyName && <span class="muted"> · {job.policyName}</span>}
                    <div class="muted small mono" title="Runner process holding the lease">
                      {job.leaseOwner}
                    </div>
                  </td>
                  <td>
                    <Progress job={job} />
                  </td>
                  <td>{job.run?.startedAt ? `${duration(job.run.startedAt, null)} ago` : '—'}</td>
                  <td>
                    {job.attempts} of {job.maxAttempts}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2 class="section-title">
        Queue ({counts.queued}
        {counts.queued ? `, ${counts.due} due` : ''})
      </h2>
      {queue.length === 0 ? (
        <div class="card empty-line muted">The queue is empty.</div>
      ) : (
        <div class="card table-card">
          <table>
            <thead>
              <tr>
                <th>#</th>
                <th>Tenant</th>
                <th>Job</th>
                <th>Runs at</th>
                <th>Attempts</th>
                <th>Last error</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {queue.map((job, i) => (
                <tr>
                  <td class="muted">{i + 1}</td>
                  <td class="strong">
                    <a href={`/admin/tenants/${job.tenantId}`}>{job.tenantName}</a>
                  </td>
                  <td>
                    {kindLabel[job.kind]}
                    {job.policyName && <span class="muted"> · {job.policyName}</span>}
                    <div class="muted small">{job.payload.trigger ?? ''}</div>
                  </td>
                  <td>
                    {time(job.runAt)}
                    <div class="muted small">{waitText(job, paused)}</div>
                  </td>
                  <td>{job.attempts}</td>
                  <td class="clip" title={job.lastError ?? ''}>
                    {job.lastError ?? '—'}
                  </td>
                  <td class="actions">
                    <DangerButton
                      action={`/admin/runner/jobs/${job.id}/cancel`}
                      csrf={props.csrf}
                      confirm={`Cancel this ${job.kind} of ${job.tenantName}? It is removed from the queue.`}
                      label="Cancel"
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {counts.queued > queue.length && (
            <p class="muted small pad">…and {counts.queued - queue.length} more.</p>
          )}
        </div>
      )}
    </section>
  )
}

/** Each runner process with its last heartbeat; one silent for 2 minutes is marked Not answering. */
export function RunnerProcesses(props: { runners: RunnerHeartbeat[] }) {
  return (
    <>
      <h2 class="section-title">Runner processes ({props.runners.length})</h2>
      {props.runners.length === 0 ? (
        <div class="card empty-line muted">
          No runner process is running: queued jobs wait until <code>panel serve</code> or{' '}
          <code>panel runner</code> starts.
        </div>
      ) : (
        <div class="card table-card">
          <table>
            <thead>
              <tr>
                <th>Host</th>
                <th>Process</th>
                <th>Last seen</th>
                <th>Jobs at once</th>
                <th>Started</th>
              </tr>
            </thead>
            <tbody>
              {props.runners.map((r) => (
                <tr>
                  <td class="strong">{r.host}</td>
                  <td class="mono">pid {r.pid}</td>
                  <td>
                    {relative(r.lastSeen)}
                    {isStale(r) && (
                      <>
                        {' '}
                        <span class="badge badge-bad">Not answering</span>
                      </>
                    )}
                  </td>
                  <td>{r.concurrency}</td>
                  <td>{time(r.startedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}

export function AdminRunnerPage(props: {
  ctx: PageCtx
  live: RunnerLive
  /** Every runner process's heartbeat. */
  runners: RunnerHeartbeat[]
  values: RunnerFormValues
  errors: Errors
  /** What each runner process uses when concurrency is blank. */
  defaultConcurrency: string
}) {
  const { paused } = props.live
  const e = props.errors
  return (
    <Layout ctx={props.ctx} title="Runner" active="runner">
      <PageHead
        title="Runner"
        lead="The shared job queue: what runs now, what waits, and how fast it may go."
      >
        <span class={paused ? 'badge badge-warn' : 'badge badge-ok'}>
          {paused ? 'Paused' : 'Running'}
        </span>
        <form method="post" action={`/admin/runner/${paused ? 'resume' : 'pause'}`}>
          <Csrf token={props.ctx.csrf} />
          <button class={paused ? 'button primary' : 'button'} type="submit">
            {paused ? 'Resume runner' : 'Pause runner'}
          </button>
        </form>
      </PageHead>
      {paused && (
        <div class="flash flash-warn" role="status">
          The runner is paused: no new job starts, jobs already running finish. Scheduled backups
          keep queueing.
        </div>
      )}
      <RunnerLiveSection csrf={props.ctx.csrf} live={props.live} />
      <RunnerProcesses runners={props.runners} />
      <h2 class="section-title">Settings</h2>
      <form method="post" action="/admin/runner/settings" class="card form" novalidate>
        <Csrf token={props.ctx.csrf} />
        <div class="grid-2">
          <TextInput
            name="concurrency"
            label="Jobs at once"
            value={props.values.concurrency}
            error={e.concurrency}
            inputmode="numeric"
            placeholder="default"
            help={`Per runner process, 1 to 64. Blank: ${props.defaultConcurrency}. A tenant never has two jobs running at once.`}
          />
          <TextInput
            name="uploadLimit"
            label="Upload limit per backup (MiB/s)"
            value={props.values.uploadLimit}
            error={e.uploadLimit}
            inputmode="decimal"
            placeholder="no limit"
            help="How fast each backup may send to its destination, e.g. 10 or 0.5. Blank: no limit. Applies from the next backup."
          />
        </div>
        <div class="form-actions">
          <button class="button primary" type="submit">
            Save runner settings
          </button>
        </div>
      </form>
    </Layout>
  )
}
