import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Badge, type ActiveItem } from './overview.tsx'
import { RunLive } from './run-live.tsx'
import type { Run, RunStage } from '../src/db/schema.ts'
import { bytes, duration, relative } from './format.ts'
import { clockTime, dayTime } from '../src/zoned.ts'

/** A stage in words: what it did, not the engine's name for it. */
const STAGE_WORDS: Record<string, string> = {
  snapshot: 'Backup',
  retention: 'Remove old backups',
  prepare: 'Prepare',
  check: 'Check the stored data',
  cleanup: 'Clean up',
  'test-restore': 'Test restore',
  'add-key': 'Add the new password',
  'check-new-password': 'Check the new password',
  'store-password': 'Save the new password',
  'remove-old-key': 'Remove the old password',
}

const stageLabel = (name: string) =>
  STAGE_WORDS[name] ??
  (name.startsWith('dump:')
    ? `Save the database ${name.slice(5)}`
    : name.startsWith('load:')
      ? `Load ${name.slice(5)} into a scratch database`
      : (name.charAt(0).toUpperCase() + name.slice(1)).replace(/-/g, ' '))

export function RunPage(props: {
  ctx: PageCtx
  run: Run
  policyName: string | null
  stages: (RunStage & { destinationName: string | null })[]
  logs: { at: Date; level: string; message: string }[]
  /** Nav entry to highlight; default the tenant's Overview (admins pass 'tenants'). */
  active?: string
  /** A way back, e.g. to the admin's list of this tenant's runs. */
  back?: { href: string; label: string }
  /** The tenant's own running run: live progress and Cancel. */
  live?: ActiveItem | null
}) {
  const { run } = props
  const zone = props.ctx.zone ?? 'UTC'
  const verifyKind = props.stages.some((s) => s.name === 'test-restore')
    ? 'Test restore'
    : 'Data check'
  const what = {
    backup: 'Backup',
    restore: 'Restore',
    rekey: 'Password change',
    verify: verifyKind,
  }
  // The tenant's own number (its first run is #1); the URL keeps the id.
  const title = `${what[run.kind]} run #${run.number}`
  return (
    <Layout ctx={props.ctx} title={title} active={props.active ?? 'overview'}>
      <PageHead
        title={title}
        lead={
          props.policyName
            ? `Policy “${props.policyName}”, ${run.trigger}`
            : `Started by ${run.trigger}`
        }
      >
        {props.back && (
          <a class="button" href={props.back.href}>
            {props.back.label}
          </a>
        )}
        <Badge status={run.status} />
      </PageHead>
      {props.live !== undefined && (
        <RunLive runId={run.id} item={props.live} csrf={props.ctx.csrf} />
      )}
      {run.error && (
        <div
          class={`flash ${run.status === 'partial' || run.status === 'cancelled' ? 'flash-warn' : 'flash-error'}`}
        >
          {run.error}
        </div>
      )}
      <div class="card table-card">
        <table>
          <thead>
            <tr>
              <th>Stage</th>
              <th>Destination</th>
              <th>Result</th>
              <th>Size</th>
              <th>Took</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {props.stages.map((s) => (
              <tr>
                <td class="strong">{stageLabel(s.name)}</td>
                <td>{s.destinationName ?? '—'}</td>
                <td>
                  <Badge status={s.status} />
                </td>
                <td>{bytes(s.bytes)}</td>
                <td>{duration(s.startedAt, s.finishedAt)}</td>
                <td>
                  {s.message}
                  {Array.isArray((s.details as any)?.unreadable) && (
                    <details>
                      <summary>Files that could not be read</summary>
                      <ul class="mono small">
                        {((s.details as any).unreadable as string[]).map((f) => (
                          <li>{f}</li>
                        ))}
                      </ul>
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2 class="section-title">Log</h2>
      <div class="card log">
        {props.logs.map((l) => (
          <div class={`log-line log-${l.level}`}>
            <span class="muted">
              <time datetime={l.at.toISOString()}>{clockTime(l.at, zone)}</time>
            </span>{' '}
            {l.message}
          </div>
        ))}
        <p class="muted small">
          Started{' '}
          {run.startedAt ? `${dayTime(run.startedAt, zone)} (${relative(run.startedAt)})` : '—'}
          {run.finishedAt ? `, took ${duration(run.startedAt, run.finishedAt)}` : ''}.
        </p>
      </div>
    </Layout>
  )
}
