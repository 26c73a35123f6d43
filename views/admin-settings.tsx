import type { Child } from 'hono/jsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Checkbox, Csrf, FieldError, Row, type Errors } from './fields.tsx'
import type { Registry } from '../src/drivers/registry.ts'

export function AdminSettingsPage(props: {
  ctx: PageCtx
  drivers: Registry
  allowed: string[]
  allowlist: string
  errors: Errors
  /** The signed-in admin's own notices card (src/web/admin-email.tsx). */
  notices?: Child
  /** Per-tenant limit defaults, minimum schedule interval and local root (views/limits.tsx). */
  limits?: Child
}) {
  return (
    <Layout ctx={props.ctx} title="Policy limits" active="settings">
      <PageHead title="Policy limits" lead="What tenants may use for their backups." />
      <form method="post" action="/admin/settings" class="card form" novalidate>
        <Csrf token={props.ctx.csrf} />
        <fieldset class="group">
          <legend>Destination types tenants may add</legend>
          {Object.entries(props.drivers).map(([type, d]) => (
            <Checkbox
              name="types"
              value={type}
              label={d.label}
              help={d.description}
              checked={props.allowed.includes(type)}
            />
          ))}
          <FieldError id="f-types" error={props.errors.types} />
          <p class="help">
            Existing destinations keep working; tenants cannot add new ones of an unticked type.
          </p>
        </fieldset>
        <Row
          id="f-allowlist"
          label="Outbound allowlist"
          error={props.errors.allowlist}
          help="Tenants’ destinations may not reach private, loopback or metadata addresses. List host names or ranges (one per line, e.g. backup.lan or 10.0.5.0/24) that they may reach anyway."
        >
          <textarea
            id="f-allowlist"
            name="allowlist"
            rows={4}
            aria-invalid={props.errors.allowlist ? 'true' : undefined}
          >
            {props.allowlist}
          </textarea>
        </Row>
        {props.limits}
        <div class="form-actions">
          <button class="button primary" type="submit">
            Save limits
          </button>
        </div>
      </form>
      {props.notices}
    </Layout>
  )
}
