import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, TextInput } from './fields.tsx'

/**
 * The Connect Dropbox box on a Dropbox destination's page. Before the destination is saved
 * (`id` absent) it says that Connect Dropbox comes after Add destination.
 */
export function DropboxBox(props: { csrf: string; id?: number; connected: boolean }) {
  return (
    <section class="card form" id="dropbox-connection">
      <h2>Dropbox connection</h2>
      <p>
        {props.connected ? <span class="badge badge-ok">Connected</span> : <span class="badge badge-muted">Not connected</span>}{' '}
        {props.connected
          ? 'The panel holds a refresh token; connect again to switch accounts.'
          : props.id
            ? 'Sign in to Dropbox once so the panel can upload your backups.'
            : 'Press Add destination first; the Connect Dropbox button then appears here.'}
      </p>
      {props.id && (
        <form method="post" action={`/backups/destinations/${props.id}/dropbox/start`}>
          <Csrf token={props.csrf} />
          <button class="button primary" type="submit">
            {props.connected ? 'Reconnect Dropbox' : 'Connect Dropbox'}
          </button>
        </form>
      )}
    </section>
  )
}

/** Step two: open Dropbox, allow the app, paste the code it shows. */
export function DropboxConnectPage(props: { ctx: PageCtx; id: number; name: string; url: string; error?: string; code?: string }) {
  return (
    <Layout ctx={props.ctx} title="Connect Dropbox" active="destinations">
      <PageHead title="Connect Dropbox" lead={`For the destination “${props.name}”.`} />
      <section class="card form">
        <ol class="steps">
          <li>
            <a class="button primary" href={props.url} target="_blank" rel="noopener noreferrer">
              Open Dropbox and allow access
            </a>
          </li>
          <li>Dropbox shows a code. Copy it and paste it here:</li>
        </ol>
        <form method="post" action={`/backups/destinations/${props.id}/dropbox/finish`} novalidate>
          <Csrf token={props.ctx.csrf} />
          <TextInput name="code" label="Code from Dropbox" value={props.code} error={props.error} autocomplete="off" required />
          <div class="form-actions">
            <button class="button primary" type="submit">
              Finish connecting
            </button>
            <a class="button ghost" href={`/backups/destinations/${props.id}`}>
              Cancel
            </a>
          </div>
        </form>
      </section>
    </Layout>
  )
}
