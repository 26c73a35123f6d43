import { Layout, PageHead, type PageCtx } from './layout.tsx'
import type { Pending } from '../src/domain/snapshot-jobs.ts'

/** What the tenant reads while the runner looks at a destination for backups made elsewhere. */
export const CHECKING = 'Checking the destination for backups made elsewhere…'
/** What the tenant reads while the runner reads a backup's file list. */
export const READING = 'Reading the list of files in this backup…'

const behind = (p: Pending) =>
  p.state === 'waiting' && p.queued ? ' It starts as soon as the job running now has finished.' : ''

/**
 * The Restore list's note on one destination while the runner looks at it: polls
 * `/backups/restore/<dest>/checking`, which reloads the page once the look is over. Without
 * JavaScript, the link reloads by hand.
 */
export function CatalogNote(props: { destId: number; pending: Pending; again: string }) {
  const p = props.pending
  if (p.state === 'failed')
    return (
      <p class="flash flash-warn pad-flash" role="status">
        Could not check the destination for backups made elsewhere: {p.reason} This list shows the
        backups the panel made; it tries again in a few minutes.
      </p>
    )
  return (
    <p
      class="muted pad"
      role="status"
      id={`checking-${props.destId}`}
      hx-get={`/backups/restore/${props.destId}/checking`}
      hx-trigger="every 2s"
      hx-swap="outerHTML"
    >
      {CHECKING}
      {behind(p)} <a href={props.again}>Check again</a>
    </p>
  )
}

/**
 * A progress bar while the runner reads a backup's file list: polls `<base>/reading`, which
 * reloads the page once the list is read. Without JavaScript, the link reloads by hand.
 */
export function ReadingNote(props: { base: string; pending: Pending; again: string }) {
  const p = props.pending
  if (p.state === 'failed')
    return (
      <div id="tree" class="tree-pane">
        <p class="flash flash-error pad-flash" role="alert">
          The list of files in this backup could not be read: {p.reason} The panel tries again in a
          few minutes: <a href={props.again}>check again</a>.
        </p>
      </div>
    )
  return (
    <div
      id="tree"
      class="tree-pane pad"
      hx-get={`${props.base}/reading`}
      hx-trigger="every 1s"
      hx-swap="outerHTML"
    >
      <progress class="progress" aria-label="Reading the list of files in this backup">
        {READING}
      </progress>
      <p class="muted small" role="status">
        {READING} It is read once; then folders and search open at once.{behind(p)}{' '}
        <a href={props.again}>Check again</a>
      </p>
    </div>
  )
}

/** The browse page of a backup whose file list is still being read. */
export function ReadingPage(props: {
  ctx: PageCtx
  title: string
  destName: string
  base: string
  pending: Pending
  again: string
}) {
  return (
    <Layout ctx={props.ctx} title={props.title} active="restore">
      <p class="back-link">
        <a href="/backups/restore">← All backups</a>
      </p>
      <PageHead title={props.title} lead={`Stored on ${props.destName}.`} />
      <section class="card restore-section" id="files">
        <h2 class="card-title">Files</h2>
        <ReadingNote base={props.base} pending={props.pending} again={props.again} />
      </section>
    </Layout>
  )
}

/** A backup id the catalog does not know (yet): the runner is looking at the destination. */
export function NotFoundYetPage(props: {
  ctx: PageCtx
  destId: number
  destName: string
  pending: Pending
  again: string
}) {
  return (
    <Layout ctx={props.ctx} title="Backup not found yet" active="restore">
      <p class="back-link">
        <a href="/backups/restore">← All backups</a>
      </p>
      <PageHead
        title="Backup not found yet"
        lead={`This backup is not in the panel's list of backups on ${props.destName}.`}
      />
      <section class="card">
        <CatalogNote destId={props.destId} pending={props.pending} again={props.again} />
      </section>
    </Layout>
  )
}
