import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, TextInput } from './fields.tsx'

/**
 * The sign-in box on the page of a destination whose type has one (`entry.connect`). Before the
 * destination is saved (`id` absent) it says that the button comes after Add destination.
 */
export function ConnectBox(props: {
  csrf: string
  type: string
  service: string
  id?: number
  connected: boolean
}) {
  const { service } = props
  return (
    <section class="card form" id={`${props.type}-connection`}>
      <h2>{service} connection</h2>
      <p>
        {props.connected ? (
          <span class="badge badge-ok">Connected</span>
        ) : (
          <span class="badge badge-muted">Not connected</span>
        )}{' '}
        {props.connected
          ? 'The panel holds a refresh token; connect again to switch accounts.'
          : props.id
            ? `Sign in to ${service} once so the panel can upload your backups.`
            : `Press Add destination first; the Connect ${service} button then appears here.`}
      </p>
      {props.id && (
        <form method="post" action={`/backups/destinations/${props.id}/${props.type}/start`}>
          <Csrf token={props.csrf} />
          <button class="button primary" type="submit">
            {props.connected ? `Reconnect ${service}` : `Connect ${service}`}
          </button>
        </form>
      )}
    </section>
  )
}

/** Step two: open the service, allow the app, paste the code it shows. */
export function ConnectPage(props: {
  ctx: PageCtx
  id: number
  type: string
  service: string
  name: string
  url: string
  error?: string
  code?: string
}) {
  const { service } = props
  return (
    <Layout ctx={props.ctx} title={`Connect ${service}`} active="destinations">
      <PageHead title={`Connect ${service}`} lead={`For the destination “${props.name}”.`} />
      <section class="card form">
        <ol class="steps">
          <li>
            <a class="button primary" href={props.url} target="_blank" rel="noopener noreferrer">
              Open {service} and allow access
            </a>
          </li>
          <li>{service} shows a code. Copy it and paste it here:</li>
        </ol>
        <form
          method="post"
          action={`/backups/destinations/${props.id}/${props.type}/finish`}
          novalidate
        >
          <Csrf token={props.ctx.csrf} />
          <TextInput
            name="code"
            label={`Code from ${service}`}
            value={props.code}
            error={props.error}
            autocomplete="off"
            required
          />
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
