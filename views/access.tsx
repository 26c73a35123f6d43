import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { DangerButton, SwapForm, TextInput, type Errors } from './fields.tsx'
import { formatInZone } from '../src/schedule.ts'
import type { TokenState } from '../src/domain/backup-token.ts'
import type { ApiKey } from '../src/db/schema.ts'
import { PULL_CRON, pullScript, pullSettings } from '../src/pull-script.ts'

export type TokenCardProps = {
  csrf: string
  state: TokenState
  timezone: string
  /** Whether the account has a password to confirm with (else the token waits). */
  hasPassword: boolean
  delayHours: number
  /** The token just created: shown this once. */
  fresh?: string
  errors?: Errors
  confirm?: string
}

export type KeysCardProps = {
  csrf: string
  keys: ApiKey[]
  timezone: string
  /** The key just created: shown this once. */
  fresh?: { key: string; name: string }
  error?: string
  name?: string
}

function when(date: Date | null, tz: string) {
  return date ? formatInZone(date, tz) : 'never'
}

/** One-time display of a secret, with plain instructions. */
function Reveal(props: {
  label: string
  value: string
  note: string
  testId: string
  /** The Copy button's words (public/js/copy.js adds it). */
  copy: string
}) {
  return (
    <div class="flash flash-ok reveal" role="status">
      <p class="strong">{props.label}</p>
      <p class="mono secret" data-copy={props.copy} data-testid={props.testId}>
        {props.value}
      </p>
      <p class="small">{props.note}</p>
    </div>
  )
}

function TokenStatus(props: { state: TokenState; tz: string }) {
  const s = props.state
  if (s.status === 'none') {
    return (
      <p class="help">
        No backup token yet. Scripts and the API need one, besides an API key, to list or download
        your backups.
      </p>
    )
  }
  if (s.status === 'pending') {
    return (
      <p>
        <span class="badge badge-warn">Waiting</span> Valid from{' '}
        <strong>{when(s.activeFrom, props.tz)}</strong>. Your account signs in without a password,
        so a new token waits before it works; an administrator can allow it sooner.
      </p>
    )
  }
  return (
    <p>
      <span class="badge badge-ok">Active</span> Created {when(s.createdAt, props.tz)}.
    </p>
  )
}

/** The backup token card: status, the token once after creating, and the create/reset form. */
export function TokenCard(props: TokenCardProps) {
  const exists = props.state.status !== 'none'
  const errors = props.errors ?? {}
  return (
    <section class="card" id="token-card">
      <h2>Backup token</h2>
      <TokenStatus state={props.state} tz={props.timezone} />
      {props.fresh && (
        <Reveal
          label="Your new backup token"
          value={props.fresh}
          testId="backup-token"
          copy="Copy token"
          note="Copy it now and keep it somewhere safe: it is shown only this once. Every administrator has been told that a token was made."
        />
      )}
      <SwapForm action="/backups/access/token" target="#token-card" csrf={props.csrf}>
        <TextInput
          name="confirm"
          label={`Type “create” to ${exists ? 'reset' : 'create'} the token`}
          value={props.confirm ?? ''}
          error={errors.confirm}
          autocomplete="off"
          help={exists ? 'Resetting stops the current token from working at once.' : undefined}
        />
        {props.hasPassword ? (
          <TextInput
            name="password"
            type="password"
            label="Your account password"
            error={errors.password}
            autocomplete="current-password"
          />
        ) : (
          <p class="help">
            Your account has no password: the new token becomes valid {props.delayHours} hours after
            you create it.
          </p>
        )}
        <button class="button primary" type="submit">
          {exists ? 'Reset backup token' : 'Create backup token'}
        </button>
      </SwapForm>
    </section>
  )
}

/** The API keys card: the key once after creating, the list with revoke, and the create form. */
export function KeysCard(props: KeysCardProps) {
  return (
    <section class="card" id="api-keys">
      <h2>API keys</h2>
      <p class="help">
        A key lets a script use the JSON API at <span class="mono">/api/v1</span> as you (header{' '}
        <span class="mono">Authorization: Bearer &lt;key&gt;</span>). Reading backups also needs the
        backup token.
      </p>
      {props.fresh && (
        <Reveal
          label={`New key “${props.fresh.name}”`}
          value={props.fresh.key}
          testId="api-key"
          copy="Copy key"
          note="Copy it now: it is shown only this once. Only its first characters are kept to recognise it."
        />
      )}
      {props.keys.length > 0 && (
        <table class="cards">
          <thead>
            <tr>
              <th>Name</th>
              <th>Key</th>
              <th>Created</th>
              <th>Last used</th>
              <th>
                <span class="visually-hidden">Revoke</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.keys.map((k) => (
              <tr id={`key-${k.id}`}>
                <td class="strong" data-label="Name">
                  {k.name}
                </td>
                <td class="mono" data-label="Key">
                  {k.prefix}…
                </td>
                <td data-label="Created">{when(k.createdAt, props.timezone)}</td>
                <td data-label="Last used">{when(k.lastUsedAt, props.timezone)}</td>
                <td class="actions">
                  <DangerButton
                    action={`/backups/access/keys/${k.id}/revoke`}
                    csrf={props.csrf}
                    target="#api-keys"
                    confirm={`Revoke “${k.name}”? Scripts using it stop working at once.`}
                    label="Revoke"
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <SwapForm action="/backups/access/keys" target="#api-keys" csrf={props.csrf}>
        <TextInput
          name="name"
          label="New key name"
          value={props.name ?? ''}
          error={props.error}
          placeholder="nightly pull on the NAS"
          autocomplete="off"
        />
        <button class="button" type="submit">
          Create API key
        </button>
      </SwapForm>
    </section>
  )
}

export type PullProps = {
  /** This panel's address as the tenant reaches it. */
  panelUrl: string
  /** The tenant's destinations, to pick one when backups go to several. */
  destinations: { id: number; name: string }[]
}

/**
 * Pull the latest backup to another computer: the settings file with this panel's address filled
 * in, the script itself (the README's), and the cron line; each with a Copy button.
 */
export function PullCard(props: PullProps) {
  const several = props.destinations.length > 1
  return (
    <section class="card" id="pull-script">
      <h2>Pull your backups to another computer</h2>
      <p class="help">
        This script downloads your latest backup as a dated <span class="mono">.tar</span> file,
        checks it is complete and keeps the last 7. It needs bash, curl and tar (Linux, macOS, a
        NAS).
      </p>
      <ol class="steps">
        <li>Create a backup token and an API key above.</li>
        <li>
          Save these settings as <span class="mono">~/.config/panel-pull.env</span> and make them
          yours alone (<span class="mono">chmod 600 ~/.config/panel-pull.env</span>). Replace{' '}
          <span class="mono">pk_…</span> with your API key and <span class="mono">bt_…</span> with
          your backup token.
          {several && (
            <>
              {' '}
              Your backups go to several destinations: <span class="mono">
                PANEL_DESTINATION
              </span>{' '}
              picks one (
              {props.destinations.map((d, i) => (
                <>
                  {i > 0 && ', '}
                  <span class="mono">{d.id}</span> for “{d.name}”
                </>
              ))}
              ).
            </>
          )}
          <pre class="mono" data-copy="Copy settings" data-testid="pull-settings">
            {pullSettings(props.panelUrl, several ? props.destinations[0]!.id : undefined)}
          </pre>
        </li>
        <li>
          Save the script as <span class="mono">/usr/local/bin/panel-pull</span> and make it
          runnable (<span class="mono">chmod 700 /usr/local/bin/panel-pull</span>), or{' '}
          <a href="/backups/access/panel-pull" download="panel-pull">
            download it
          </a>
          .
          <pre
            class="mono script"
            data-copy="Copy script"
            data-testid="pull-script"
            tabindex={0}
            aria-label="The pull script"
          >
            {pullScript(props.panelUrl)}
          </pre>
        </li>
        <li>
          Run it once by hand, then daily from cron (<span class="mono">crontab -e</span>):
          <pre class="mono" data-copy="Copy cron line">
            {PULL_CRON}
          </pre>
        </li>
      </ol>
    </section>
  )
}

export function AccessPage(props: {
  ctx: PageCtx
  token: Omit<TokenCardProps, 'csrf'>
  keys: Omit<KeysCardProps, 'csrf'>
  pull: PullProps
}) {
  const csrf = props.ctx.csrf
  return (
    <Layout ctx={props.ctx} title="Access" active="access">
      <PageHead
        title="Access"
        lead="Your backup token and API keys, for scripts that start or pull backups, and a ready-made script that pulls your latest backup to another computer."
      />
      <div class="stack">
        <TokenCard csrf={csrf} {...props.token} />
        <KeysCard csrf={csrf} {...props.keys} />
        <PullCard {...props.pull} />
      </div>
    </Layout>
  )
}
