import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { DangerButton, SwapForm, TextInput, type Errors } from './fields.tsx'
import { formatInZone } from '../src/schedule.ts'
import type { TokenState } from '../src/domain/backup-token.ts'
import type { ApiKey } from '../src/db/schema.ts'

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
function Reveal(props: { label: string; value: string; note: string; testId: string }) {
  return (
    <div class="flash flash-ok reveal" role="status">
      <p class="strong">{props.label}</p>
      <p class="mono secret" data-testid={props.testId}>
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
          note="Copy it now: it is shown only this once. Only its first characters are kept to recognise it."
        />
      )}
      {props.keys.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Key</th>
              <th>Created</th>
              <th>Last used</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {props.keys.map((k) => (
              <tr id={`key-${k.id}`}>
                <td class="strong">{k.name}</td>
                <td class="mono">{k.prefix}…</td>
                <td>{when(k.createdAt, props.timezone)}</td>
                <td>{when(k.lastUsedAt, props.timezone)}</td>
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

export function AccessPage(props: {
  ctx: PageCtx
  token: Omit<TokenCardProps, 'csrf'>
  keys: Omit<KeysCardProps, 'csrf'>
}) {
  const csrf = props.ctx.csrf
  return (
    <Layout ctx={props.ctx} title="Access" active="access">
      <PageHead
        title="Access"
        lead="Your backup token and API keys, for scripts that start or pull backups (see the README's curl script)."
      />
      <div class="stack">
        <TokenCard csrf={csrf} {...props.token} />
        <KeysCard csrf={csrf} {...props.keys} />
      </div>
    </Layout>
  )
}
