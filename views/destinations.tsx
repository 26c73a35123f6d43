import { HostBadge } from './host-badge.tsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, DangerButton, SpecField, TextInput, type Errors } from './fields.tsx'
import type { DriverEntry, Registry } from '../src/drivers/registry.ts'
import { isSecret, warningsOf } from '../src/drivers/spec.ts'
import { ConnectBox } from './connect.tsx'

export type DestinationRow = {
  id: number
  name: string
  type: string
  values: Record<string, unknown>
  usedBy: string[]
  /** Set on a copy of the host's storage: shown without settings, not editable. */
  providerDestinationId: number | null
}

/** Where the tenant's own destination pages live; the admin's pages pass their own `base`. */
const TENANT_BASE = '/backups/destinations'

/** The first two plain (not secret, not advanced) settings that are set, as "Label: value". */
export function settingsSummary(
  driver: DriverEntry | undefined,
  values: Record<string, unknown>,
): string {
  if (!driver) return ''
  return driver.settings
    .filter((f) => !isSecret(f) && !f.advanced && values[f.name] !== '' && values[f.name] != null)
    .slice(0, 2)
    .map((f) => `${f.label}: ${String(values[f.name])}`)
    .join(' · ')
}

/** Driver messages may start in lower case ("bucket … does not exist"); shown as a sentence. */
const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

export function DestinationsPage(props: {
  ctx: PageCtx
  rows: DestinationRow[]
  drivers: Registry
}) {
  return (
    <Layout ctx={props.ctx} title="Destinations" active="destinations">
      <PageHead
        title="Destinations"
        lead="Where your backups are stored. A policy can send to several."
      >
        <a class="button primary" href="/backups/destinations/new">
          Add destination
        </a>
      </PageHead>
      {props.rows.length === 0 ? (
        <div class="card empty">
          <h2>No destinations yet</h2>
          <p>Add one to choose where your backups go, then create a policy under Policies.</p>
          <a class="button primary" href="/backups/destinations/new">
            Add destination
          </a>
        </div>
      ) : (
        <div class="card table-card">
          <table class="cards">
            <thead>
              <tr>
                <th>Name</th>
                <th>Type</th>
                <th>Settings</th>
                <th>Used by</th>
                <th>
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((d) => (
                <tr id={`destination-${d.id}`}>
                  <td class="strong" data-label="Name">
                    {d.name}
                  </td>
                  <td data-label="Type">
                    <span class="badge">{props.drivers[d.type]?.label ?? d.type}</span>
                  </td>
                  <td class="muted" data-label="Settings">
                    {d.providerDestinationId !== null ? (
                      <HostBadge />
                    ) : (
                      settingsSummary(props.drivers[d.type], d.values)
                    )}
                    {Object.values(warningsOf(props.drivers[d.type]?.settings ?? [], d.values)).map(
                      (w) => (
                        <p class="field-warning">{w}</p>
                      ),
                    )}
                  </td>
                  <td data-label="Used by">
                    {d.usedBy.length ? d.usedBy.join(', ') : <span class="muted">—</span>}
                  </td>
                  <td class="actions">
                    {d.providerDestinationId !== null ? (
                      <span class="muted">Managed by your host</span>
                    ) : (
                      <>
                        <a class="button small" href={`/backups/destinations/${d.id}`}>
                          Edit
                        </a>
                        <DangerButton
                          action={`/backups/destinations/${d.id}/delete`}
                          csrf={props.ctx.csrf}
                          confirm={`Delete the destination “${d.name}”? Backups already stored there are not removed.`}
                          label="Delete"
                        />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  )
}

/** Every type in `drivers`, each linking to `<base>/new/<type>`. */
export function TypePickerPage(props: { ctx: PageCtx; drivers: Registry; base?: string }) {
  const base = props.base ?? TENANT_BASE
  return (
    <Layout ctx={props.ctx} title="Add destination" active="destinations">
      <PageHead title="Add destination" lead="Choose where this destination stores backups." />
      {Object.keys(props.drivers).length === 0 && (
        <div class="card empty">
          <h2>Your host keeps your backups</h2>
          <p>
            Adding destinations of your own is turned off on this server. Your host backs up your
            account: see <a href="/backups">Backups</a> and <a href="/backups/restore">Restore</a>.
          </p>
        </div>
      )}
      <div class="type-grid">
        {Object.entries(props.drivers).map(([type, d]) => (
          <a class="card type-card" href={`${base}/new/${type}`}>
            <span class="type-name">{d.label}</span>
            <span class="muted">{d.description}</span>
          </a>
        ))}
      </div>
    </Layout>
  )
}

/**
 * Values: raw text the tenant typed (or stored settings), with secrets reduced to "is set".
 * Posts to `<base>/<id>` or `<base>/new/<type>` (and `/test` after either); `base` defaults to
 * the tenant's pages.
 */
export function DestinationForm(props: {
  csrf: string
  base?: string
  type: string
  driver: DriverEntry
  id?: number
  name: string
  values: Record<string, unknown>
  errors: Errors
  /** Pinned settings (an SSH host key) are named in the result so the tenant sees what was pinned. */
  testResult?: { ok: boolean; message: string; pinned?: Record<string, unknown> }
}) {
  const base = props.base ?? TENANT_BASE
  const action = props.id ? `${base}/${props.id}` : `${base}/new/${props.type}`
  const testAction = `${action}/test`
  const basic = props.driver.settings.filter((f) => !f.advanced)
  const advanced = props.driver.settings.filter((f) => f.advanced)
  const advancedError = advanced.some((f) => props.errors[f.name])
  // Open when something in it was set (a pinned host key, a CA), so a swapped-in form keeps it in view.
  const advancedSet = advanced.some((f) => {
    const v = props.values[f.name]
    if (isSecret(f)) return false
    if (f.type === 'checkbox') return Boolean(v) !== Boolean(f.default)
    return v !== '' && v != null && String(v) !== String(f.default ?? '')
  })
  const warnings = warningsOf(props.driver.settings, props.values)
  const pinned = Object.entries(props.testResult?.pinned ?? {})
  const labelOf = (name: string) =>
    props.driver.settings.find((f) => f.name === name)?.label ?? name
  const field = (f: (typeof basic)[number]) => (
    <SpecField
      field={f}
      value={props.values[f.name]}
      error={props.errors[f.name]}
      warning={warnings[f.name]}
      prefix="s."
    />
  )
  return (
    <form
      method="post"
      action={action}
      class="card form"
      novalidate
      hx-post={action}
      hx-target="this"
      hx-swap="outerHTML"
    >
      <Csrf token={props.csrf} />
      <TextInput
        name="name"
        label="Name"
        value={props.name}
        error={props.errors.name}
        required
        placeholder="e.g. Nightly on this server"
      />
      {basic.map(field)}
      {advanced.length > 0 && (
        <details class="advanced" open={advancedError || advancedSet}>
          <summary>Advanced settings</summary>
          {advanced.map(field)}
        </details>
      )}
      {props.testResult && (
        <div
          class={`flash ${props.testResult.ok ? 'flash-ok' : 'flash-error'}`}
          role="status"
          id="test-result"
        >
          <strong>{props.testResult.ok ? 'Test passed. ' : 'Test failed. '}</strong>
          {sentence(props.testResult.message)}
          {pinned.map(([name, value]) => (
            <p class="pinned">
              {labelOf(name)} <code>{String(value)}</code> pinned: every later connection is checked
              against it.
            </p>
          ))}
        </div>
      )}
      {props.testResult && Object.keys(warnings).length > 0 && (
        <div class="flash flash-warn" role="status" id="test-warnings">
          {Object.entries(warnings).map(([name, w]) => (
            <p>
              <strong>{labelOf(name)}:</strong> {w}
            </p>
          ))}
        </div>
      )}
      <div class="form-actions">
        <button class="button primary" type="submit">
          {props.id ? 'Save destination' : 'Add destination'}
        </button>
        <button
          class="button"
          type="submit"
          formaction={testAction}
          hx-post={testAction}
          hx-target="closest form"
          hx-swap="outerHTML"
          hx-disabled-elt="this"
        >
          Test connection
        </button>
        <a class="button ghost" href={base}>
          Cancel
        </a>
      </div>
    </form>
  )
}

export function DestinationFormPage(props: {
  ctx: PageCtx
  form: Parameters<typeof DestinationForm>[0]
  /** For a saved destination whose type has a sign-in (`driver.connect`): whether it is done. */
  connected?: boolean
  /** Shown instead of the sign-in box where that sign-in is not offered (the admin's pages). */
  connectNote?: string
}) {
  const { connect } = props.form.driver
  const title = props.form.id
    ? `Edit ${props.form.name}`
    : `New ${props.form.driver.label} destination`
  return (
    <Layout ctx={props.ctx} title={title} active="destinations">
      <PageHead title={title} lead={props.form.driver.description} />
      <DestinationForm {...props.form} />
      {connect && props.connectNote && (
        <section class="card form" id={`${props.form.type}-connection`}>
          <h2>{connect.service} connection</h2>
          <p>{props.connectNote}</p>
        </section>
      )}
      {connect && !props.connectNote && (
        <ConnectBox
          csrf={props.ctx.csrf}
          type={props.form.type}
          service={connect.service}
          id={props.form.id}
          connected={Boolean(props.connected)}
        />
      )}
    </Layout>
  )
}
