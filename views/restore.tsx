import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, FieldError, type Errors } from './fields.tsx'
import type { Snapshot, TreeNode } from '../src/engine/snapshots.ts'
import { bytes, relative } from './format.ts'

type DestSnapshots = { id: number; name: string; snapshots: Snapshot[]; error?: string }

export function RestorePage(props: { ctx: PageCtx; destinations: DestSnapshots[]; policyNames: Map<number, string> }) {
  return (
    <Layout ctx={props.ctx} title="Restore" active="restore">
      <PageHead title="Restore" lead="Pick a snapshot to browse, restore from, or download." />
      {props.destinations.length === 0 && (
        <div class="card empty">
          <h2>Nothing to restore yet</h2>
          <p>Snapshots appear here after your first backup.</p>
        </div>
      )}
      {props.destinations.map((d) => (
        <section class="card table-card restore-dest">
          <h2 class="card-title">{d.name}</h2>
          {d.error ? (
            <p class="flash flash-error">{d.error}</p>
          ) : d.snapshots.length === 0 ? (
            <p class="muted pad">No snapshots on this destination yet.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Taken</th>
                  <th>Snapshot</th>
                  <th>From</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {d.snapshots.map((s) => {
                  const policy = s.tags.find((t) => t.startsWith('policy:'))
                  const name = policy ? props.policyNames.get(Number(policy.slice(7))) : undefined
                  return (
                    <tr>
                      <td>
                        {new Date(s.time).toISOString().replace('T', ' ').slice(0, 16)} UTC <span class="muted">({relative(s.time)})</span>
                      </td>
                      <td class="mono">{s.shortId}</td>
                      <td>{s.tags.includes('safety') ? <span class="badge badge-muted">Safety snapshot</span> : (name ?? '—')}</td>
                      <td class="actions">
                        <a class="button small primary" href={`/backups/restore/${d.id}/${s.id}`}>
                          Browse &amp; restore
                        </a>
                      </td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          )}
        </section>
      ))}
    </Layout>
  )
}

/** One level of a snapshot's tree; folders load their children when opened. */
export function TreeLevel(props: { base: string; nodes: TreeNode[] }) {
  return (
    <ul class="tree">
      {props.nodes.map((n) => (
        <li>
          {n.type === 'dir' ? (
            <details hx-get={`${props.base}/tree?path=${encodeURIComponent(n.path)}`} hx-trigger="toggle once" hx-target="find .children" hx-swap="innerHTML">
              <summary>
                <input type="checkbox" name="paths" value={n.path} aria-label={`Select ${n.name}`} /> <span class="folder">{n.name}/</span>
                <a class="small" href={`${props.base}/download?path=${encodeURIComponent(n.path)}`}>
                  download .tar
                </a>
              </summary>
              <div class="children">
                <span class="muted small">Loading…</span>
              </div>
            </details>
          ) : (
            <label class="leaf">
              <input type="checkbox" name="paths" value={n.path} /> {n.name}
              {n.type === 'symlink' ? <span class="muted"> (link)</span> : <span class="muted"> {bytes(n.size)}</span>}
            </label>
          )}
        </li>
      ))}
    </ul>
  )
}

export function BrowsePage(props: {
  ctx: PageCtx
  base: string
  destName: string
  snapshot: Snapshot
  home: string
  roots: TreeNode[]
  databases: { id: number; name: string; engine: string }[]
  errors: Errors
}) {
  const e = props.errors
  return (
    <Layout ctx={props.ctx} title="Browse snapshot" active="restore">
      <PageHead title={`Snapshot ${props.snapshot.shortId}`} lead={`${props.destName} · taken ${relative(props.snapshot.time)}`}>
        <a class="button" href={`${props.base}/download?path=${encodeURIComponent(props.home)}`}>
          Download home as .tar
        </a>
      </PageHead>
      <form method="post" action={props.base} class="form restore-form" novalidate>
        <Csrf token={props.ctx.csrf} />
        <input type="hidden" name="what" value="files" />
        <section class="card">
          <h2>Files</h2>
          <p class="help">Tick folders or files to restore; tick nothing to restore your whole home folder.</p>
          <TreeLevel base={props.base} nodes={props.roots} />
          <FieldError id="f-paths" error={e.paths} />
          <RestoreTarget errors={e} what="folder" />
          <button class="button primary" type="submit">
            Restore files
          </button>
        </section>
      </form>
      {props.databases.length > 0 && (
        <form method="post" action={props.base} class="form restore-form" novalidate>
          <Csrf token={props.ctx.csrf} />
          <input type="hidden" name="what" value="database" />
          <section class="card">
            <h2>Database</h2>
            <select name="database" aria-label="Database">
              {props.databases.map((d) => (
                <option value={String(d.id)}>
                  {d.name} ({d.engine === 'mariadb' ? 'MariaDB' : 'PostgreSQL'})
                </option>
              ))}
            </select>
            <FieldError id="f-database" error={e.database} />
            <RestoreTarget errors={e} what="database" />
            <button class="button primary" type="submit">
              Restore database
            </button>
          </section>
        </form>
      )}
    </Layout>
  )
}

function RestoreTarget(props: { errors: Errors; what: 'folder' | 'database' }) {
  const id = `f-newName-${props.what}`
  return (
    <fieldset class="group">
      <legend>Restore to</legend>
      <div class="check">
        <input type="radio" id={`${id}-copy`} name="mode" value="copy" checked />
        <label for={`${id}-copy`}>
          {props.what === 'folder' ? 'A new folder in my home' : 'A new database'}
          <span class="help">Nothing existing is touched.</span>
        </label>
      </div>
      <input id={id} name="newName" placeholder={props.what === 'folder' ? 'restored-2026-11-22' : 'shop_restored'} aria-label={props.what === 'folder' ? 'New folder name' : 'New database name'} />
      <FieldError id={id} error={props.errors.newName} />
      <div class="check">
        <input type="radio" id={`${id}-inplace`} name="mode" value="inplace" />
        <label for={`${id}-inplace`}>
          In place, replacing the current {props.what === 'folder' ? 'files' : 'database'}
          <span class="help">A safety snapshot of the current state is taken first.</span>
        </label>
      </div>
    </fieldset>
  )
}
