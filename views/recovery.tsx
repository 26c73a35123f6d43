import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, Row, TextInput } from './fields.tsx'
import type { RecoveryKit } from '../src/engine/restic/recovery.ts'

/** A destination holding one of the tenant's repositories; `pending`: a password change is queued. */
export type RepositoryRow = { id: number; name: string; pending?: boolean }

/**
 * The Recovery kit page: pick a repository and confirm the account password to see its kit
 * (always the password the panel uses now), and change each repository's password.
 */
export function RecoveryPage(props: {
  ctx: PageCtx
  destinations: RepositoryRow[]
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
              <dt>Location (restic repository)</dt>
              <dd>
                <span class="mono copyable" data-copy="Copy location">
                  {props.kit.repository}
                </span>
              </dd>
            </div>
            <div>
              <dt>Password</dt>
              <dd>
                <span class="mono copyable" data-copy="Copy password" data-testid="kit-password">
                  {props.kit.password}
                </span>
              </dd>
            </div>
          </dl>
          {props.kit.note && <p class="kit-note">{props.kit.note}</p>}
          <h3>Restore with restic</h3>
          <pre class="mono" data-copy="Copy commands" data-testid="kit-command">
            {props.kit.command}
          </pre>
          <p class="help">
            Keep this somewhere safe and offline: anyone with it can read your backups.
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
            help="The kit shows the password of your backups, so we ask for yours first."
          />
          <button class="button primary" type="submit">
            Show recovery kit
          </button>
        </form>
      )}
      {!props.kit && props.destinations.length > 0 && (
        <PasswordsCard csrf={props.ctx.csrf} repositories={props.destinations} />
      )}
    </Layout>
  )
}

/** One "Change password" button per repository (each asks to confirm on the next page). */
function PasswordsCard(props: { csrf: string; repositories: RepositoryRow[] }) {
  return (
    <section class="card" id="passwords">
      <h2>Backup passwords</h2>
      <p class="help">
        If a recovery kit got into the wrong hands, give the backups on that destination a new
        password: the old one stops working and your backups stay as they are.
      </p>
      <table>
        <tbody>
          {props.repositories.map((r) => (
            <tr>
              <td class="strong">{r.name}</td>
              <td>
                {r.pending ? (
                  <span class="badge badge-warn">Change queued</span>
                ) : (
                  <form method="post" action={`/backups/recovery/${r.id}/password`}>
                    <Csrf token={props.csrf} />
                    <button class="button small" type="submit">
                      Change password
                    </button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

/** Are you sure? A plain form: "Yes" posts `confirm=yes` back. */
export function ChangePasswordPage(props: {
  ctx: PageCtx
  destination: { id: number; name: string }
}) {
  const d = props.destination
  return (
    <Layout ctx={props.ctx} title="Change the backup password?" active="recovery">
      <PageHead title={`Change the password of “${d.name}”?`} />
      <section class="card confirm-card">
        <p class="confirm-what">
          The panel gives your backups on “{d.name}” a new password, then removes the old one. Your
          backups stay as they are. A recovery kit you saved before stops working: show the kit
          again once the change is done and keep the new one. The change waits for any backup that
          is running.
        </p>
        <form method="post" action={`/backups/recovery/${d.id}/password`} class="form-actions">
          <Csrf token={props.ctx.csrf} />
          <input type="hidden" name="confirm" value="yes" />
          <button class="button danger" type="submit">
            Yes, change the password
          </button>
          <a class="button" href="/backups/recovery">
            Cancel
          </a>
        </form>
      </section>
    </Layout>
  )
}
