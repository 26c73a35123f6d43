import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, FieldError, Row, SwapForm, TextInput, type Errors } from './fields.tsx'
import { relative, statusBadge } from './format.ts'
import type { Notification } from '../src/db/schema.ts'
import { dayTime } from '../src/zoned.ts'

export type NotifyFormValues = {
  email: string
  mode: string
  webhookUrl: string
  /** Only a value the tenant just typed or a freshly generated one; never the stored secret. */
  webhookSecret: string
}

const modes = [
  {
    value: 'failures',
    label: 'Failures only',
    help: 'Failed or incomplete backups, missed schedules, failed restore checks, and the first success after a failure.',
  },
  { value: 'every', label: 'Every run', help: 'The result of every backup, good or bad.' },
  { value: 'never', label: 'Never', help: 'No notices. Check the Overview yourself.' },
]

const channelText = { email: 'E-mail', webhook: 'Webhook' }

/** The last notices with their delivery status; polls while any is still pending. */
export function NotificationHistory(props: {
  rows: Notification[]
  /** The tenant's zone, for the exact time on hover. */
  zone: string
  note?: string
  error?: string
}) {
  const pending = props.rows.some((r) => r.status === 'pending')
  return (
    <section
      id="history"
      hx-get={pending ? '/backups/notifications/history' : undefined}
      hx-trigger={pending ? 'every 2s' : undefined}
      hx-swap="outerHTML"
    >
      <h2 class="section-title">Recent notifications</h2>
      {props.note && (
        <div class="flash flash-ok" role="status">
          {props.note}
        </div>
      )}
      {props.error && (
        <div class="flash flash-error" role="alert">
          {props.error}
        </div>
      )}
      {props.rows.length === 0 ? (
        <div class="card empty">
          <p>No notifications yet. Send a test to check that they reach you.</p>
        </div>
      ) : (
        <div class="card table-card">
          <table>
            <thead>
              <tr>
                <th>When</th>
                <th>What</th>
                <th>To</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((r) => {
                const badge = r.status === 'sent' ? statusBadge('success') : statusBadge(r.status)
                return (
                  <tr>
                    <td class="nowrap" title={dayTime(r.createdAt, props.zone)}>
                      {relative(r.createdAt)}
                    </td>
                    <td>{r.subject}</td>
                    <td>
                      <span class="muted">{channelText[r.channel]}</span>{' '}
                      <span class="clip">{r.recipient}</span>
                    </td>
                    <td>
                      <span class={badge.class}>{r.status === 'sent' ? 'Sent' : badge.text}</span>
                      {r.status === 'pending' && r.attempts > 0 && (
                        <span class="muted small"> retrying</span>
                      )}
                      {r.error && <p class="help">{r.error}</p>}
                    </td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}

/** The settings form; a 422 answer to htmx is this fragment with its errors. */
export function NotifyForm(props: {
  csrf: string
  values: NotifyFormValues
  errors: Errors
  secretStored: boolean
  accountEmail: string | null
}) {
  const { values, errors } = props
  return (
    <SwapForm action="/backups/notifications" class="card form" csrf={props.csrf}>
      <TextInput
        name="email"
        type="email"
        label="E-mail address"
        value={values.email}
        error={errors.email}
        autocomplete="email"
        placeholder={props.accountEmail ?? 'you@example.com'}
        help={
          props.accountEmail
            ? `Blank: notices go to your account’s address, ${props.accountEmail}.`
            : 'Blank: no e-mails (webhook only).'
        }
      />
      <fieldset class={errors.mode ? 'group has-error' : 'group'}>
        <legend>Tell me about</legend>
        {modes.map((m) => (
          <div class="check">
            <input
              id={`f-mode-${m.value}`}
              type="radio"
              name="mode"
              value={m.value}
              checked={values.mode === m.value}
            />
            <label for={`f-mode-${m.value}`}>
              {m.label}
              <span class="help">{m.help}</span>
            </label>
          </div>
        ))}
        <FieldError id="f-mode" error={errors.mode} />
      </fieldset>
      <TextInput
        name="webhookUrl"
        type="url"
        label="Webhook URL"
        value={values.webhookUrl}
        error={errors.webhookUrl}
        placeholder="https://hooks.example.com/backups"
        help="Optional. The same notices as JSON, POSTed to this address: {event, tenant, policy, runId, status, reason, at}."
      />
      <Row
        id="f-webhookSecret"
        label="Webhook secret"
        error={errors.webhookSecret}
        help={
          props.secretStored
            ? 'Stored. Leave blank to keep it, or type a new one. Each call carries X-Panel-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>" with this secret>.'
            : 'Copy this generated secret to your receiver before saving (or type your own); it is not shown again. Each call carries X-Panel-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>" with this secret>.'
        }
      >
        <input
          id="f-webhookSecret"
          name="webhookSecret"
          type="text"
          data-secret="1"
          class="mono"
          autocomplete="off"
          spellcheck={false}
          value={values.webhookSecret}
          placeholder={props.secretStored ? '•••••••• stored (leave blank to keep)' : ''}
          aria-invalid={errors.webhookSecret ? 'true' : undefined}
          aria-describedby={errors.webhookSecret ? 'f-webhookSecret-error' : undefined}
        />
      </Row>
      <div class="form-actions">
        <button class="button primary" type="submit">
          Save notifications
        </button>
      </div>
    </SwapForm>
  )
}

export function NotificationsPage(props: {
  ctx: PageCtx
  values: NotifyFormValues
  errors: Errors
  secretStored: boolean
  emailOn: boolean
  accountEmail: string | null
  history: Notification[]
}) {
  const { values, errors } = props
  return (
    <Layout ctx={props.ctx} title="Notifications" active="notifications">
      <PageHead
        title="Notifications"
        lead="Where the panel tells you about your backups, and when."
      >
        <form
          method="post"
          action="/backups/notifications/test"
          hx-post="/backups/notifications/test"
          hx-target="#history"
          hx-swap="outerHTML"
        >
          <Csrf token={props.ctx.csrf} />
          <button class="button" type="submit">
            Send test notification
          </button>
        </form>
      </PageHead>
      {!props.emailOn && (
        <div class="flash flash-warn" role="status">
          E-mail is not set up on this server yet: e-mail notices are recorded below but not sent.
          Webhooks work.
        </div>
      )}
      <NotifyForm
        csrf={props.ctx.csrf}
        values={values}
        errors={errors}
        secretStored={props.secretStored}
        accountEmail={props.accountEmail}
      />
      <NotificationHistory rows={props.history} zone={props.ctx.zone ?? 'UTC'} />
    </Layout>
  )
}
