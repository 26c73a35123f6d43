import { Badge, CancelJob, activityLabel, type ActiveItem } from './overview.tsx'
import { LiveProgress } from './progress.tsx'

/**
 * A running run's live progress on its own page, with its Cancel button; polls itself every
 * second and, once the run has ended, renders empty (the route then reloads the page).
 */
export function RunLive(props: { runId: number; item: ActiveItem | null; csrf: string }) {
  const { item } = props
  const label = item ? activityLabel(item) : ''
  const stopping = item?.job.cancelRequestedAt != null
  return (
    <section
      id="run-live"
      hx-get={item ? `/backups/runs/${props.runId}/live` : undefined}
      hx-trigger={item ? 'every 1s' : undefined}
      hx-swap="outerHTML"
    >
      {item && (
        <div class="card activity">
          <div class="activity-head">
            <strong>{label}</strong>
            <Badge status="running" />
            {!stopping && <CancelJob item={item} csrf={props.csrf} fromRun />}
          </div>
          {stopping ? (
            <p class="muted small">Cancelling: stopping the backup and cleaning up…</p>
          ) : (
            <LiveProgress progress={item.run?.progress ?? null} label={`Progress of ${label}`} />
          )}
        </div>
      )}
    </section>
  )
}
