import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, Row, TextInput } from './fields.tsx'
import type { RecoveryKit } from '../src/engine/restic/recovery.ts'

export function RecoveryPage(props: {
  ctx: PageCtx
  destinations: { id: number; name: string }[]
  chosen?: number
  error?: string
  kit?: RecoveryKit & { destination: string }
}) {
  return (
    <Layout ctx={props.ctx} title="Recovery kit" active="recovery">
      <PageHead
        title="Recovery kit"
        lead="Everything you need to restore your backups with stock restic, without this panel."
      />
      {props.kit ? (
        <section class="card kit">
          <h2>{props.kit.destination}</h2>
          <dl class="facts">
            <div>
              <dt>Repository</dt>
              <dd class="mono">{props.kit.repository}</dd>
            </div>
            <div>
              <dt>Password</dt>
              <dd class="mono">{props.kit.password}</dd>
            </div>
          </dl>
          <h3>Restore with restic</h3>
          <pre class="mono">{props.kit.command}</pre>
          <p class="help">
            {props.kit.note} Keep this somewhere safe and offline: anyone with it can read your
            backups.
          </p>
        </section>
      ) : props.destinations.length === 0 ? (
        <div class="card empty">
          <p>Your recovery kit is available after your first backup.</p>
        </div>
      ) : (
        <form method="post" action="/backups/recovery" class="card form" novalidate>
          <Csrf token={props.ctx.csrf} />
          <Row id="f-destination" label="Destination">
            <select id="f-destination" name="destination">
              {props.destinations.map((d) => (
                <option value={String(d.id)} selected={d.id === props.chosen}>
                  {d.name}
                </option>
              ))}
            </select>
          </Row>
          <TextInput
            name="password"
            type="password"
            label="Your account password"
            error={props.error}
            autocomplete="current-password"
            help="The kit shows your repository password, so we ask for yours first."
          />
          <button class="button primary" type="submit">
            Show recovery kit
          </button>
        </form>
      )}
    </Layout>
  )
}
