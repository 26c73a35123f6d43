import { SwapForm, TextInput } from './fields.tsx'

/** Admin > Policy limits: the signed-in admin's own address for token notices and failed checks. */
export function AdminEmailCard(props: {
  csrf: string
  email: string
  error?: string
  emailOn: boolean
  saved?: boolean
}) {
  return (
    <SwapForm id="admin-email" action="/admin/settings/email" class="card form" csrf={props.csrf}>
      <h2>Your notices</h2>
      {props.emailOn ? (
        <p class="help">
          Every admin with an address is e-mailed when a tenant creates or resets a backup token,
          and when a verified restore fails.
        </p>
      ) : (
        <div class="flash flash-warn" role="status">
          E-mail is off: set SMTP_HOST (and SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM) in the
          panel’s environment and restart it. Until then notices are recorded as failed.
        </div>
      )}
      {props.saved && (
        <div class="flash flash-ok" role="status">
          Your address is saved.
        </div>
      )}
      <TextInput
        name="adminEmail"
        type="email"
        label="Your e-mail address"
        value={props.email}
        error={props.error}
        autocomplete="email"
        placeholder="admin@example.com"
        help="Blank: you get no e-mails."
      />
      <div class="form-actions">
        <button class="button" type="submit">
          Save address
        </button>
      </div>
    </SwapForm>
  )
}
