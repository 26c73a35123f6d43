import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, DangerButton, TextInput, type Errors } from './fields.tsx'
import { Badge } from './overview.tsx'
import { LiveProgress } from './progress.tsx'
import { bytes, duration, relative } from './format.ts'
import type { QueuedJob, RunningJob } from '../src/db/runner-queue.ts'
import { isStale, nodeState, type RunnerHeartbeat } from '../src/db/runner-heartbeats.ts'
import { dayTime, serverZone } from '../src/zoned.ts'

export type RunnerLive = {
  paused: boolean
  running: RunningJob[]
  queue: QueuedJob[]
  counts: { queued: number; due: number }
}

export type RunnerFormValues = { concurrency: string; uploadLimit: string }

/** A hosting node and how many tenants live on it (node null: the panel's own server). */
export type NodeTenants = { node: string | null; tenants: number }

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

function NodeName(props: { node: string | null }) {
  return props.node === null ? <span class="muted">This server</span> : <>{props.node}</>
}

/** Whether each node's tenants are being backed up, in words; nodeState decides. */
function NodeStatus(props: { runners: RunnerHeartbeat[]; node: string | null; answering: number }) {
  const { node } = props
  const s = nodeState(props.runners, node)
  // The panel's own server counts as fine before any runner row exists (nodeState), but in a
  // list of nodes "answering" beside 0 runners would be false: say that none has started.
  if (s.state === 'never' || (s.state === 'ok' && props.answering === 0)) {
    return (
      <div>
        <span class="badge badge-bad">No runner</span>
        <p class="reason">
          {node === null ? (
            <>
              No runner has started on this server: its tenants’ backups wait until{' '}
              <code class="nowrap">panel serve</code> or <code class="nowrap">panel runner</code>{' '}
              runs here.
            </>
          ) : (
            <>
              No runner has started on this node: its tenants’ backups wait until{' '}
              <code class="nowrap">panel runner --node {node}</code> runs there.
            </>
          )}
        </p>
      </div>
    )
  }
  if (s.state === 'gone') {
    return (
      <div>
        <span class="badge badge-bad">Not answering</span>
        <p class="reason">
          The runner stopped answering {relative(s.lastSeen)}: its tenants’ backups wait until it is
          back.
        </p>
      </div>
    )
  }
  return <span class="badge badge-ok">Runner answering</span>
}

/**
 * One row per hosting node (those tenants live on and those runners serve). Renders nothing on
 * a single-server panel, where the only node is the panel's own server.
 */
export function RunnerNodes(props: { nodes: NodeTenants[]; runners: RunnerHeartbeat[] }) {
  const tenants = new Map(props.nodes.map((n) => [n.node, n.tenants]))
  for (const r of props.runners) if (!tenants.has(r.node)) tenants.set(r.node, 0)
  const nodes = [...tenants.keys()].sort((a, b) =>
    a === null ? -1 : b === null ? 1 : a.localeCompare(b, 'en', { numeric: true }),
  )
  if (nodes.length <= 1 && nodes[0] == null) return null
  return (
    <>
      <h2 class="section-title">Nodes ({nodes.length})</h2>
      <div class="card table-card">
        <table class="cards">
          <thead>
            <tr>
              <th>Node</th>
              <th>Tenants</th>
              <th>Runners answering</th>
              <th class="wide">Status</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((node) => {
              const answering = props.runners.filter((r) => r.node === node && !isStale(r)).length
              return (
                <tr>
                  <td class="strong" data-label="Node">
                    <NodeName node={node} />
                  </td>
                  <td data-label="Tenants">{tenants.get(node)}</td>
                  <td data-label="Runners answering">{answering}</td>
                  <td data-label="Status">
                    <NodeStatus runners={props.runners} node={node} answering={answering} />
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
    </>
  )
}

/** Each runner process with its last heartbeat; one silent for 2 minutes is marked Not answering. */
export function RunnerProcesses(props: { runners: RunnerHeartbeat[]; running: RunningJob[] }) {
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
          <table class="cards">
            <thead>
              <tr>
                <th>Host</th>
                <th>Node</th>
                <th>Process</th>
                <th>Last seen</th>
                <th>Running</th>
                <th>Jobs at once</th>
                <th>Started</th>
              </tr>
            </thead>
            <tbody>
              {props.runners.map((r) => (
                <tr>
                  <td class="strong" data-label="Host">
                    {r.host}
                  </td>
                  <td class="nowrap" data-label="Node">
                    <NodeName node={r.node} />
                  </td>
                  <td class="mono nowrap" data-label="Process">
                    pid {r.pid}
                  </td>
                  <td data-label="Last seen">
                    {relative(r.lastSeen)}
                    {isStale(r) && (
                      <>
                        {' '}
                        <span class="badge badge-bad">Not answering</span>
                      </>
                    )}
                  </td>
                  <td data-label="Running">
                    {props.running.filter((j) => j.leaseOwner === r.id).length}
                  </td>
                  <td data-label="Jobs at once">{r.concurrency}</td>
                  <td data-label="Started">{time(r.startedAt)}</td>
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
  /** Tenants per node (tenantNodes). */
  nodes: NodeTenants[]
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
      <RunnerNodes nodes={props.nodes} runners={props.runners} />
      <RunnerProcesses runners={props.runners} running={props.live.running} />
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
