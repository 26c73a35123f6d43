import type { Child } from 'hono/jsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, FieldError, type Errors } from './fields.tsx'
import type { Snapshot, TreeNode } from '../src/engine/restic/snapshots.ts'
import { bytes } from './format.ts'
import {
  TypeIcon,
  dayTime,
  engineLabel,
  inHome,
  incompleteReason,
  snapshotWhen,
  suggestedDatabase,
  suggestedFolder,
  typeLabel,
} from './restore-parts.tsx'

/** One view of a snapshot's files: a folder's children, or the hits of a search by name. */
export type TreeView = {
  base: string
  home: string
  zone: string
  /** The folder shown (or returned to from a search). */
  dir: string
  q: string
  nodes: TreeNode[]
  searching: boolean
  /** More hits than shown. */
  truncated: boolean
  /** Ticked paths, also those outside this view: they travel with the form. */
  selected: string[]
  error?: string
}

export type DatabaseChoice = { id: number; name: string; engine: string }

/** What was posted, so a page with errors shows it again (each error once, beside its field). */
export type PostedRestore = {
  what: 'files' | 'database'
  databaseId?: number
  mode: 'copy' | 'inplace'
  newName: string
  errors: Errors
}

export type BrowseProps = {
  ctx: PageCtx
  base: string
  zone: string
  destName: string
  policy: string
  snapshot: Snapshot
  /** The snapshot holds the tenant's home folder. */
  hasHome: boolean
  tree: TreeView
  /** The tenant's databases whose dump this snapshot holds. */
  offered: DatabaseChoice[]
  /** The tenant's databases it does not hold. */
  missing: DatabaseChoice[]
  posted?: PostedRestore
}

/** Query string of a browse link; ticked paths ride along only where asked. */
export function browseHref(base: string, q: { dir?: string; q?: string; paths?: string[] }) {
  const params = new URLSearchParams()
  if (q.dir) params.set('dir', q.dir)
  if (q.q) params.set('q', q.q)
  for (const p of q.paths ?? []) params.append('paths', p)
  const text = params.toString()
  return text ? `${base}?${text}` : base
}

/** A folder link: a plain link without JavaScript, an in-place swap of the tree with htmx. */
function FolderLink(props: { base: string; dir: string; class?: string; children: Child }) {
  const href = browseHref(props.base, { dir: props.dir })
  return (
    <a
      class={props.class}
      href={href}
      hx-get={href}
      hx-target="#tree"
      hx-swap="outerHTML"
      hx-push-url={href}
      hx-include="#files-form [name='paths']"
    >
      {props.children}
    </a>
  )
}

function Crumbs(props: { view: TreeView }) {
  const { base, home, dir } = props.view
  const rest = dir === home ? [] : dir.slice(home.length + 1).split('/')
  const here = props.view.searching ? -2 : rest.length - 1
  return (
    <nav class="crumbs" aria-label="Folder">
      {here === -1 ? (
        <span aria-current="page">Home folder</span>
      ) : (
        <FolderLink base={base} dir={home}>
          Home folder
        </FolderLink>
      )}
      {rest.map((name, i) => (
        <>
          <span class="crumb-sep" aria-hidden="true">
            /
          </span>
          {i === here ? (
            <span aria-current="page">{name}</span>
          ) : (
            <FolderLink base={base} dir={`${home}/${rest.slice(0, i + 1).join('/')}`}>
              {name}
            </FolderLink>
          )}
        </>
      ))}
    </nav>
  )
}

/** The swappable part of the Files section: breadcrumbs, search box, table, ticked elsewhere. */
export function TreeFragment(props: { view: TreeView }) {
  const v = props.view
  const ticked = new Set(v.selected)
  const shown = new Set(v.nodes.map((n) => n.path))
  const elsewhere = v.selected.filter((p) => !shown.has(p))
  return (
    <div id="tree" class={v.error ? 'tree-pane has-error' : 'tree-pane'}>
      <input type="hidden" name="dir" value={v.dir} />
      <div class="tree-tools">
        <Crumbs view={v} />
        <div class="tree-search" role="search">
          <input form="snapshot-search" type="hidden" name="dir" value={v.dir} />
          <input
            form="snapshot-search"
            type="search"
            name="q"
            value={v.q}
            placeholder="Find by name"
            aria-label="Find files and folders by name in this backup"
          />
          <button form="snapshot-search" class="button" type="submit">
            Search
          </button>
        </div>
      </div>
      {v.searching && (
        <p class="tree-note" role="status">
          {v.nodes.length === 0
            ? `Nothing in this backup has “${v.q}” in its name.`
            : `${v.truncated ? `The first ${v.nodes.length}` : v.nodes.length} ${v.nodes.length === 1 ? 'match' : 'matches'} for “${v.q}” across the whole backup.`}{' '}
          <FolderLink base={v.base} dir={v.dir}>
            Back to the folder
          </FolderLink>
        </p>
      )}
      <div class="tree-scroll">
        <table class="tree-table">
          <thead>
            <tr>
              <th class="col-check">
                <span class="visually-hidden">Tick</span>
              </th>
              <th>Name</th>
              <th class="num">Size</th>
              <th class="col-mtime">Modified</th>
              <th class="col-type">Type</th>
              <th class="col-dl">
                <span class="visually-hidden">Download</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {v.nodes.length === 0 && !v.searching && (
              <tr>
                <td colspan={6} class="muted">
                  This folder is empty in this backup.
                </td>
              </tr>
            )}
            {v.nodes.map((n, i) => (
              <NodeRow view={v} node={n} index={i} checked={ticked.has(n.path)} />
            ))}
          </tbody>
        </table>
      </div>
      {elsewhere.length > 0 && (
        <fieldset class="also-ticked">
          <legend>Also ticked, in other folders</legend>
          {elsewhere.map((p, i) => (
            <div class="check">
              <input type="checkbox" id={`f-also-${i}`} name="paths" value={p} checked />
              <label for={`f-also-${i}`} class="mono">
                {inHome(v.home, p)}
              </label>
            </div>
          ))}
        </fieldset>
      )}
      <FieldError id="f-paths" error={v.error} />
    </div>
  )
}

function NodeRow(props: { view: TreeView; node: TreeNode; index: number; checked: boolean }) {
  const { view: v, node: n } = props
  const parent = n.path.slice(0, n.path.lastIndexOf('/'))
  const id = `f-path-${props.index}`
  return (
    <tr>
      <td class="col-check">
        <input
          type="checkbox"
          id={id}
          name="paths"
          value={n.path}
          checked={props.checked}
          aria-label={`Tick ${n.name}`}
        />
      </td>
      <td class="col-name">
        <span class="node">
          <TypeIcon type={n.type} />
          {n.type === 'dir' ? (
            <FolderLink base={v.base} dir={n.path} class="node-name folder">
              {n.name}
            </FolderLink>
          ) : (
            <label for={id} class="node-name">
              {n.name}
            </label>
          )}
          {n.type === 'symlink' && <span class="muted small">(link)</span>}
        </span>
        {v.searching && (
          <span class="in-folder">
            in{' '}
            <FolderLink base={v.base} dir={parent}>
              {inHome(v.home, parent)}
            </FolderLink>
          </span>
        )}
      </td>
      <td class="num nowrap">{n.type === 'file' ? bytes(n.size) : '—'}</td>
      <td class="col-mtime nowrap">{n.mtime ? dayTime(n.mtime, v.zone) : '—'}</td>
      <td class="col-type">{typeLabel[n.type]}</td>
      <td class="actions col-dl">
        {(n.type === 'dir' || n.type === 'file') && (
          <a
            class="small"
            href={`${v.base}/download?path=${encodeURIComponent(n.path)}`}
            aria-label={n.type === 'dir' ? `Download ${n.name} as .tar` : `Download ${n.name}`}
          >
            Download
          </a>
        )}
      </td>
    </tr>
  )
}

/** Errors not tied to a field of this form (e.g. the snapshot), each shown once at its top. */
function FormErrors(props: { errors: Errors; skip: string[] }) {
  const rest = Object.entries(props.errors).filter(([k, v]) => v && !props.skip.includes(k))
  if (!rest.length) return null
  return (
    <div class="flash flash-error" role="alert">
      {rest.map(([, text]) => (
        <p>{text}</p>
      ))}
    </div>
  )
}

function Target(props: {
  id: string
  mode: 'copy' | 'inplace'
  newName: string
  error?: string
  copyLabel: string
  copyHelp: Child
  nameLabel: string
  inplaceLabel: string
  inplaceHelp: string
}) {
  const { id } = props
  return (
    <fieldset class="group restore-target">
      <legend>Restore to</legend>
      <div class="check">
        <input
          type="radio"
          id={`${id}-copy`}
          name="mode"
          value="copy"
          checked={props.mode !== 'inplace'}
        />
        <label for={`${id}-copy`}>
          {props.copyLabel}
          <span class="help">{props.copyHelp}</span>
        </label>
      </div>
      <div class={props.error ? 'field name-field has-error' : 'field name-field'}>
        <label for={id}>{props.nameLabel}</label>
        <input
          id={id}
          name="newName"
          value={props.newName}
          autocomplete="off"
          spellcheck={false}
          aria-invalid={props.error ? 'true' : undefined}
          aria-describedby={props.error ? `${id}-error` : undefined}
        />
        <FieldError id={id} error={props.error} />
      </div>
      <div class="check">
        <input
          type="radio"
          id={`${id}-inplace`}
          name="mode"
          value="inplace"
          checked={props.mode === 'inplace'}
        />
        <label for={`${id}-inplace`}>
          {props.inplaceLabel}
          <span class="help">{props.inplaceHelp}</span>
        </label>
      </div>
    </fieldset>
  )
}

/** A snapshot: its files (tree, search, restore) and its databases, as separate sections. */
export function BrowsePage(props: BrowseProps) {
  const { snapshot: s, base, posted } = props
  const when = snapshotWhen(s.time, props.zone)
  const reason = incompleteReason(s)
  const files = posted?.what === 'files' ? posted : undefined
  const folder = files?.newName ?? suggestedFolder(s.time, props.zone)
  const dbPosted =
    posted?.what === 'database' && props.offered.some((d) => d.id === posted.databaseId)
      ? posted
      : undefined
  const dbStray = posted?.what === 'database' && !dbPosted ? posted : undefined
  const title =
    s.kind === 'safety'
      ? `Safety copy: before a restore on ${dayTime(s.time, props.zone)}`
      : `Backup of ${when}`
  return (
    <Layout ctx={props.ctx} title={title} active="restore">
      <p class="back-link">
        <a href="/backups/restore">← All backups</a>
      </p>
      <PageHead title={title}>
        {props.hasHome && (
          <a class="button" href={`${base}/download?path=${encodeURIComponent(props.tree.home)}`}>
            Download home as .tar
          </a>
        )}
      </PageHead>
      <dl class="facts snap-facts">
        <div>
          <dt>Destination</dt>
          <dd>{props.destName}</dd>
        </div>
        <div>
          <dt>{s.kind === 'safety' ? 'Kind' : 'Policy'}</dt>
          <dd>{s.kind === 'safety' ? 'Safety copy, taken before a restore' : props.policy}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>
            {bytes(s.bytes)}
            {s.files !== null && (
              <span class="muted">
                {' '}
                · {s.files.toLocaleString('en-GB')} {s.files === 1 ? 'file' : 'files'}
              </span>
            )}
          </dd>
        </div>
        <div>
          <dt>Backup id</dt>
          <dd>
            <span class="mono small muted">{s.shortId}</span>
          </dd>
        </div>
      </dl>
      {reason && (
        <p class="flash flash-warn">
          Incomplete: {reason} when this backup was taken. What it holds restores normally.
        </p>
      )}
      <section class="card restore-section" id="files">
        <h2>Files</h2>
        {!props.hasHome ? (
          <p class="muted">This backup holds no files from your home folder.</p>
        ) : (
          <>
            <form
              id="snapshot-search"
              method="get"
              action={base}
              hx-get={base}
              hx-target="#tree"
              hx-swap="outerHTML"
              hx-push-url="true"
              hx-include="#files-form [name='paths']"
            ></form>
            <form id="files-form" method="post" action={base} class="restore-form" novalidate>
              <Csrf token={props.ctx.csrf} />
              <input type="hidden" name="what" value="files" />
              <p class="help">
                Tick the folders and files to restore, or tick nothing to restore your whole home
                folder. Open a folder by its name.
              </p>
              {files && <FormErrors errors={files.errors} skip={['paths', 'newName']} />}
              <TreeFragment view={props.tree} />
              <Target
                id="f-newName-folder"
                mode={files?.mode ?? 'copy'}
                newName={folder}
                error={files?.errors.newName}
                copyLabel="A new folder in your home"
                copyHelp={
                  <>
                    Nothing you have now is touched. Ticked items keep their place inside it, for
                    example <code>{folder || 'restored'}/public_html/…</code>
                  </>
                }
                nameLabel="New folder name"
                inplaceLabel="In place, over your current files"
                inplaceHelp="Files with the same name are replaced by the backup copy; files added since stay. You confirm on the next page, and a safety copy is taken first."
              />
              <div class="form-actions">
                <button class="button primary" type="submit">
                  Restore files
                </button>
              </div>
            </form>
          </>
        )}
      </section>
      {(props.offered.length > 0 || props.missing.length > 0 || dbStray) && (
        <section class="card restore-section" id="databases">
          <h2>Databases</h2>
          {dbStray && <FormErrors errors={dbStray.errors} skip={[]} />}
          {props.offered.length === 0 ? (
            <p class="muted">
              This backup holds no copy of your databases. Pick another backup to restore one.
            </p>
          ) : (
            props.offered.map((d) => (
              <DatabaseForm
                {...props}
                d={d}
                posted={dbPosted?.databaseId === d.id ? dbPosted : undefined}
              />
            ))
          )}
          {props.offered.length > 0 && props.missing.length > 0 && (
            <p class="help">
              Not in this backup: {props.missing.map((d) => d.name).join(', ')}. Pick another backup
              to restore {props.missing.length === 1 ? 'it' : 'them'}.
            </p>
          )}
        </section>
      )}
    </Layout>
  )
}

function DatabaseForm(props: BrowseProps & { d: DatabaseChoice; posted?: PostedRestore }) {
  const { d, base, posted } = props
  const id = `f-newName-db-${d.id}`
  return (
    <form
      id={`db-${d.id}`}
      method="post"
      action={base}
      class={posted ? 'restore-form db-restore has-error' : 'restore-form db-restore'}
      novalidate
    >
      <Csrf token={props.ctx.csrf} />
      <input type="hidden" name="what" value="database" />
      <input type="hidden" name="database" value={String(d.id)} />
      <div class="db-head">
        <h3>
          {d.name} <span class="badge badge-muted">{engineLabel(d.engine)}</span>
        </h3>
        <a class="button small" href={`${base}/database/${d.id}`}>
          Download .sql.gz
        </a>
      </div>
      {posted && <FormErrors errors={posted.errors} skip={['newName']} />}
      <Target
        id={id}
        mode={posted?.mode ?? 'copy'}
        newName={posted?.newName ?? suggestedDatabase(d.name, props.snapshot.time, props.zone)}
        error={posted?.errors.newName}
        copyLabel="A new database"
        copyHelp={`${d.name} as it is now is not touched.`}
        nameLabel="New database name"
        inplaceLabel={`In place, over ${d.name}`}
        inplaceHelp="Its contents are replaced by the backup copy: changes made since are lost. You confirm on the next page, and a safety copy is taken first."
      />
      <div class="form-actions">
        <button class="button primary" type="submit">
          Restore {d.name}
        </button>
      </div>
    </form>
  )
}
