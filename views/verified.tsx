import type { Verification } from '../src/db/schema.ts'
import { relative } from './format.ts'

/** "12 s", "3 min 4 s" from a millisecond count. */
function took(ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 60
    ? `${s} s`
    : s < 3600
      ? `${Math.floor(s / 60)} min ${s % 60} s`
      : `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`
}

/**
 * The Overview's "Verified restore" cell: result badge, when, and how long the restore took;
 * the full outcome (files compared, tables loaded, or what failed) on hover and on the run page.
 */
export function VerifiedCell(props: { v: Verification | undefined }) {
  const { v } = props
  if (!v) return <span class="badge badge-muted">Not yet</span>
  return (
    <a href={v.runId ? `/backups/runs/${v.runId}` : '#'} title={v.message ?? ''} class="verified">
      <span class={`badge ${v.ok ? 'badge-ok' : 'badge-bad'}`}>
        {v.ok ? 'Restorable' : 'Failed'}
      </span>{' '}
      <span class="muted">{relative(v.createdAt)}</span>
      {v.ok && v.durationMs > 0 && (
        <span class="muted small verified-took">restored in {took(v.durationMs)}</span>
      )}
    </a>
  )
}

/** How run history names a verify run. */
export function verifyRunLabel(
  mode: 'check' | 'restore' | null,
  policyName: string | null,
): string {
  const of = policyName ? ` “${policyName}”` : ''
  return mode === 'restore'
    ? `Test restore${of}`
    : mode === 'check'
      ? `Data check${of}`
      : `Verify${of}`
}
