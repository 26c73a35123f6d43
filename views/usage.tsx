import type { Limits } from '../src/db/limits.ts'
import type { OnDemandUsage } from '../src/domain/limits.ts'
import { clock } from '../src/domain/limits.ts'
import { formatBytes } from '../src/units.ts'
import { SAFETY_KEEP_DAYS } from '../src/db/snapshots.ts'

export type UsageProps = {
  stored: { bytes: number; snapshots: number }
  /** Safety snapshots taken before restores in place (counted in snapshots, kept 14 days). */
  safety?: number
  limits: Limits
  onDemand: OnDemandUsage
  timezone: string
}

function Meter(props: {
  label: string
  used: number
  limit: number | null
  text: (n: number) => string
  stops?: boolean
}) {
  // Only stored data and snapshots stop backups when over; on-demand runs just wait.
  const over = props.stops === true && props.limit !== null && props.used > props.limit
  return (
    <div class="usage-item">
      <dt>{props.label}</dt>
      <dd>
        {props.text(props.used)}
        {props.limit === null ? (
          <span class="muted"> · no limit</span>
        ) : props.limit === 0 ? (
          <span class="muted"> · turned off</span>
        ) : (
          <span class="muted"> of {props.text(props.limit)}</span>
        )}
        {over && <span class="badge badge-bad">Over the limit</span>}
      </dd>
      {props.limit !== null && props.limit > 0 && (
        <progress
          class={over ? 'progress progress-bad' : 'progress'}
          max={props.limit}
          value={Math.min(props.used, props.limit)}
          aria-label={props.label}
        >
          {props.text(props.used)}
        </progress>
      )}
    </div>
  )
}

/**
 * What the tenant uses against the limits the admin set: stored data and snapshots (as measured
 * after the last backups) and on-demand backups in the last 24 hours. Says plainly when a limit
 * stops backups, so a refused backup never comes as a surprise.
 */
export function UsageCard(props: UsageProps) {
  const { stored, limits, onDemand } = props
  const anyLimit = limits.bytes !== null || limits.snapshots !== null || limits.runsPerDay !== null
  if (!anyLimit && stored.bytes === 0 && stored.snapshots === 0) return null
  const over =
    (limits.bytes !== null && stored.bytes > limits.bytes) ||
    (limits.snapshots !== null && stored.snapshots > limits.snapshots)
  const exhausted = onDemand.limit !== null && onDemand.used >= onDemand.limit
  return (
    <section class="card usage" id="usage">
      <h2>Usage and limits</h2>
      <dl class="facts">
        <Meter
          label="Stored data"
          used={stored.bytes}
          limit={limits.bytes}
          text={formatBytes}
          stops
        />
        <Meter
          label="Backups stored"
          used={stored.snapshots}
          limit={limits.snapshots}
          text={String}
          stops
        />
        <Meter
          label="On-demand runs, last 24 h"
          used={onDemand.used}
          limit={onDemand.limit}
          text={String}
        />
      </dl>
      {(props.safety ?? 0) > 0 && (
        <p class="muted small">
          You also have {props.safety} safety {props.safety === 1 ? 'copy' : 'copies'} taken before
          a restore replaced your files or a database; each is kept for {SAFETY_KEEP_DAYS} days
          (Restore &gt; Safety copies) and counts as a stored backup from the next backup on.
        </p>
      )}
      {over && (
        <p class="form-error">
          Your backups are over a limit. The next backup first applies your retention settings; if
          that does not free enough, it is refused. Keep fewer backups under Policies, or ask your
          administrator to raise the limit.
        </p>
      )}
      {exhausted && (
        <p class="muted small">
          {onDemand.limit === 0
            ? 'On-demand backups are turned off for your account; scheduled backups still run.'
            : `You have used all on-demand backups for now; the next is possible after ${onDemand.nextAt ? clock(onDemand.nextAt, props.timezone) : 'a while'}. Scheduled backups still run.`}
        </p>
      )}
    </section>
  )
}
