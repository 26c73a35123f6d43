import { HostBadge } from './host-badge.tsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import type { Snapshot } from '../src/engine/restic/snapshots.ts'
import { bytes } from './format.ts'
import { dayTime, incompleteReason, snapshotWhen } from './restore-parts.tsx'
import { CatalogNote } from './restore-wait.tsx'
import type { Pending } from '../src/domain/snapshot-jobs.ts'

export {
  BrowsePage,
  TreeFragment,
  type BrowseProps,
  type PostedRestore,
  type TreeView,
} from './restore-browse.tsx'
export { ConfirmPage, type ConfirmProps } from './restore-confirm.tsx'

export type DestSnapshots = {
  id: number
  name: string
  snapshots: Snapshot[]
  error?: string
  /** The host's storage: its backups are restored the same way, labelled as the host's. */
  host?: boolean
  /** The runner is looking (or failed to look) at the destination for backups made elsewhere. */
  pending?: Pending | null
}

/** The Restore list: each destination's backups by date, safety copies in a section of their own. */
export function RestorePage(props: {
  ctx: PageCtx
  zone: string
  /** The tenant's home: safety copies of files are named by their path in it. */
  home: string
  destinations: DestSnapshots[]
  policyNames: Map<number, string>
}) {
  const safety = props.destinations
    .map((d) => ({ ...d, snapshots: d.snapshots.filter((s) => s.kind === 'safety') }))
    .filter((d) => d.snapshots.length)
  return (
    <Layout ctx={props.ctx} title="Restore" active="restore">
      <PageHead title="Restore" lead="Pick a backup to browse, restore from or download." />
      {props.destinations.length === 0 && (
        <div class="card empty">
          <h2>Nothing to restore yet</h2>
          <p>Backups appear here after your first backup has run.</p>
        </div>
      )}
      {props.destinations.map((d) => {
        const regular = d.snapshots.filter((s) => s.kind !== 'safety')
        return (
          <section class="card table-card restore-dest">
            <h2 class="card-title">
              {d.name} {d.host && <HostBadge />}
            </h2>
            {d.pending && (
              <CatalogNote destId={d.id} pending={d.pending} again="/backups/restore" />
            )}
            {d.error ? (
              <p class="flash flash-error pad-flash">{d.error}</p>
            ) : regular.length === 0 ? (
              d.pending?.state !== 'waiting' && (
                <p class="muted pad">No backups on this destination yet.</p>
              )
            ) : (
              <table class="snap-table">
                <thead>
                  <tr>
                    <th>Taken</th>
                    <th>Policy</th>
                    <th class="num">Size</th>
                    <th class="visually-hidden-th">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {regular.map((s) => (
                    <SnapshotRow
                      s={s}
                      href={`/backups/restore/${d.id}/${s.id}`}
                      zone={props.zone}
                      policy={policyOf(s, props.policyNames)}
                    />
                  ))}
                </tbody>
              </table>
            )}
          </section>
        )
      })}
      {safety.length > 0 && (
        <>
          <h2 class="section-title" id="safety">
            Safety copies
          </h2>
          <p class="help section-help">
            Taken automatically before each restore in place: what was there just before. Browse and
            restore them like any backup.
          </p>
          {safety.map((d) => (
            <section class="card table-card restore-dest">
              <h3 class="card-title">{d.name}</h3>
              <table class="snap-table">
                <thead>
                  <tr>
                    <th>Taken</th>
                    <th class="num">Size</th>
                    <th class="visually-hidden-th">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {d.snapshots.map((s) => (
                    <tr>
                      <td>
                        <a class="snap-when" href={`/backups/restore/${d.id}/${s.id}`}>
                          {safetyLabel(s, props.home)} on {dayTime(s.time, props.zone)}
                        </a>
                        <span class="snap-id">{s.shortId}</span>
                      </td>
                      <td class="num nowrap">{bytes(s.bytes)}</td>
                      <td class="actions">
                        <a class="button small" href={`/backups/restore/${d.id}/${s.id}`}>
                          Browse &amp; restore
                        </a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          ))}
        </>
      )}
    </Layout>
  )
}

function policyOf(s: Snapshot, names: Map<number, string>): string {
  if (s.kind !== 'policy') return 'Not made by a policy'
  return (s.policyId !== null && names.get(s.policyId)) || 'A deleted policy'
}

function SnapshotRow(props: { s: Snapshot; href: string; zone: string; policy: string }) {
  const { s } = props
  const reason = incompleteReason(s)
  return (
    <tr>
      <td>
        <a class="snap-when" href={props.href}>
          {snapshotWhen(s.time, props.zone)}
        </a>
        <span class="snap-id">{s.shortId}</span>
        {reason && <span class="badge badge-warn snap-flag">Incomplete: {reason}</span>}
      </td>
      <td>{props.policy}</td>
      <td class="num nowrap">{bytes(s.bytes)}</td>
      <td class="actions">
        <a class="button small primary" href={props.href}>
          Browse &amp; restore
        </a>
      </td>
    </tr>
  )
}

/**
 * What a safety copy kept, as the restore's run page names it: “Before restoring shop”,
 * “Before restoring public_html/index.php”, “Before restoring 3 paths”.
 */
export function safetyLabel(s: Pick<Snapshot, 'databases' | 'paths'>, home: string): string {
  const dbs = s.databases.map((d) => d.replace(/^(mariadb|postgresql)-/, ''))
  if (dbs.length) return `Before restoring ${dbs.join(', ')}`
  if (s.paths.length !== 1) return `Before restoring ${s.paths.length} paths`
  const p = s.paths[0]!
  const rel =
    p === home ? 'your home folder' : p.startsWith(home + '/') ? p.slice(home.length + 1) : p
  return `Before restoring ${rel}`
}
