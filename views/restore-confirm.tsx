import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf } from './fields.tsx'
import type { Snapshot } from '../src/engine/restic/snapshots.ts'
import { browseHref, type DatabaseChoice } from './restore-browse.tsx'
import { engineLabel, inHome, snapshotWhen } from './restore-parts.tsx'

export type ConfirmProps = {
  ctx: PageCtx
  base: string
  zone: string
  destName: string
  snapshot: Snapshot
  home: string
  /** Ticked paths of a files restore; empty: the whole home folder. */
  paths: string[]
  /** Set for a database restore. */
  database?: DatabaseChoice
  /** The folder the tenant was in, to return to. */
  dir: string
}

const SHOWN = 50

/**
 * The question before a restore in place: what will be overwritten, from which backup, and that
 * a safety copy comes first. A plain form re-posts the same fields with `confirm=yes`.
 */
export function ConfirmPage(props: ConfirmProps) {
  const { database: d, paths, home } = props
  const when = snapshotWhen(props.snapshot.time, props.zone)
  const cancel = d
    ? `${props.base}#db-${d.id}`
    : browseHref(props.base, { dir: props.dir, paths: paths.length ? paths : undefined })
  return (
    <Layout ctx={props.ctx} title="Restore in place?" active="restore">
      <PageHead
        title="Overwrite with the backup copy?"
        lead={`From the backup of ${when} (${props.zone}), destination “${props.destName}”.`}
      />
      <section class="card confirm-card">
        <h2>This will be overwritten</h2>
        {d ? (
          <p class="confirm-what">
            The database <strong>{d.name}</strong>{' '}
            <span class="muted">({engineLabel(d.engine)})</span>: its contents are replaced by the
            copy in this backup, so changes made since then are lost.
          </p>
        ) : paths.length === 0 ? (
          <p class="confirm-what">
            <strong>Your whole home folder</strong> <span class="mono muted">({home})</span>: files
            with the same name are replaced by the copy in this backup. Files added since stay.
          </p>
        ) : (
          <>
            <p class="confirm-what">
              {paths.length === 1 ? 'This item' : `These ${paths.length} items`} in your home
              folder, replaced by the copy in this backup (inside folders, files added since stay):
            </p>
            <ul class="confirm-list">
              {paths.slice(0, SHOWN).map((p) => (
                <li class="mono">{inHome(home, p)}</li>
              ))}
              {paths.length > SHOWN && <li class="muted">and {paths.length - SHOWN} more</li>}
            </ul>
          </>
        )}
        <p class="safety-note">
          <strong>A safety copy is taken first</strong> of what is there now. It appears under
          Restore, in Safety copies, so you can go back to it.
        </p>
        <form method="post" action={props.base} class="form-actions">
          <Csrf token={props.ctx.csrf} />
          <input type="hidden" name="what" value={d ? 'database' : 'files'} />
          {d && <input type="hidden" name="database" value={String(d.id)} />}
          {paths.map((p) => (
            <input type="hidden" name="paths" value={p} />
          ))}
          <input type="hidden" name="dir" value={props.dir} />
          <input type="hidden" name="mode" value="inplace" />
          <input type="hidden" name="confirm" value="yes" />
          <button class="button danger" type="submit">
            Yes, overwrite
          </button>
          <a class="button" href={cancel}>
            Cancel
          </a>
        </form>
      </section>
    </Layout>
  )
}
