import type { Child } from 'hono/jsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, DangerButton, FieldError, Row, TextInput, type Errors } from './fields.tsx'
import type { Tenant, TenantDatabase } from '../src/db/schema.ts'
import { ZoneField } from './zone-field.tsx'
import type { HealthFilter, HealthPage, HealthQuery } from '../src/db/health-list.ts'
import { HealthSearch, HealthTable } from './admin-health.tsx'

/**
 * Admin > Tenants: every tenant's backup health, filtered, sorted and paginated from the query
 * string (HealthTable is the fragment htmx swaps).
 */
export function TenantsPage(props: {
  ctx: PageCtx
  query: HealthQuery
  result: HealthPage
  counts: Record<HealthFilter, number>
  now: Date
}) {
  const none = props.counts.all === 0 && !props.query.q
  return (
    <Layout ctx={props.ctx} title="Tenants" active="tenants">
      <PageHead title="Tenants" lead="Every hosting account and the health of its backups.">
        <a class="button primary" href="/admin/tenants/new">
          Add tenant
        </a>
      </PageHead>
      {none ? (
        <div class="card empty">
          <h2>No tenants yet</h2>
          <p>Add a tenant to give a hosting user their own Backups pages.</p>
        </div>
      ) : (
        <>
          <HealthSearch query={props.query} />
          <HealthTable
            query={props.query}
            result={props.result}
            counts={props.counts}
            now={props.now}
          />
        </>
      )}
    </Layout>
  )
}

export type TenantFormValues = {
  name: string
  homeDir: string
  systemUser: string
  timezone: string
  /** Absent on pages that do not edit it: the edit page then shows the tenant's stored plan. */
  plan?: string
  /** Likewise: the edit page then shows the tenant's stored node. */
  node?: string
}

export function TenantForm(props: {
  csrf: string
  values: TenantFormValues
  errors: Errors
  tenantId?: number
}) {
  const editing = props.tenantId !== undefined
  const action = editing ? `/admin/tenants/${props.tenantId}` : '/admin/tenants'
  const { values: v, errors: e } = props
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
      {editing ? (
        <Row id="f-name" label="Login name">
          <input id="f-name" value={v.name} disabled />
        </Row>
      ) : (
        <TextInput
          name="name"
          label="Login name"
          value={v.name}
          error={e.name}
          required
          autocomplete="off"
          help="Lowercase letters, digits, - and _; also names the tenant’s backup folders."
        />
      )}
      <TextInput
        name="password"
        label={editing ? 'New password' : 'Password'}
        type="password"
        error={e.password}
        required={!editing}
        autocomplete="new-password"
        help={editing ? 'Leave blank to keep the current password.' : 'At least 10 characters.'}
      />
      <TextInput
        name="homeDir"
        label="Home directory"
        value={v.homeDir}
        error={e.homeDir}
        required
        placeholder="/home/alice"
        help="What “home files” means for this tenant’s backups."
      />
      <TextInput
        name="systemUser"
        label="System user"
        value={v.systemUser}
        error={e.systemUser}
        placeholder="alice"
        help="Backups and restores run as this user when the panel runs as root."
      />
      <ZoneField
        value={v.timezone}
        error={e.timezone}
        help="The tenant’s pages show times in this zone, and new schedules run in it. Type to search, e.g. Kolkata."
      />
      <TextInput
        name="plan"
        label="Plan"
        value={v.plan}
        error={e.plan}
        placeholder="e.g. Business"
        help="Optional. Backup policies for a plan apply to its tenants."
      />
      <TextInput
        name="node"
        label="Node"
        value={v.node}
        error={e.node}
        placeholder="e.g. web1"
        help="The hosting server this tenant’s files live on. Its backups run only on that server, under panel runner --node with this name. Leave empty for the panel’s own server."
      />
      <div class="form-actions">
        <button class="button primary" type="submit">
          {editing ? 'Save tenant' : 'Add tenant'}
        </button>
        <a class="button ghost" href="/admin/tenants">
          Cancel
        </a>
      </div>
    </form>
  )
}

export function NewTenantPage(props: { ctx: PageCtx; values: TenantFormValues; errors: Errors }) {
  return (
    <Layout ctx={props.ctx} title="Add tenant" active="tenants">
      <PageHead title="Add tenant" lead="Creates the tenant and their sign-in account." />
      <TenantForm csrf={props.ctx.csrf} values={props.values} errors={props.errors} />
    </Layout>
  )
}

export function DatabasesCard(props: {
  csrf: string
  tenantId: number
  databases: TenantDatabase[]
  error?: string
  name?: string
  engine?: string
}) {
  const base = `/admin/tenants/${props.tenantId}/databases`
  return (
    <section class="card" id="databases">
      <h2>Databases</h2>
      <p class="help">Databases this tenant may include in their backups.</p>
      {props.databases.length > 0 && (
        <ul class="list">
          {props.databases.map((d) => (
            <li>
              <span>
                <span class="badge">{d.engine === 'mariadb' ? 'MariaDB' : 'PostgreSQL'}</span>{' '}
                <span class="mono">{d.name}</span>
              </span>
              <DangerButton
                action={`${base}/${d.id}/delete`}
                csrf={props.csrf}
                target="#databases"
                confirm={`Remove ${d.name} from this tenant? Its backups stop including it; the database itself is not touched.`}
                label="Remove"
              />
            </li>
          ))}
        </ul>
      )}
      <form
        method="post"
        action={base}
        class="db-form"
        novalidate
        hx-post={base}
        hx-target="#databases"
        hx-swap="outerHTML"
      >
        <Csrf token={props.csrf} />
        <div class="inline-form">
          <select name="engine" aria-label="Database engine">
            <option value="mariadb" selected={props.engine !== 'postgresql'}>
              MariaDB / MySQL
            </option>
            <option value="postgresql" selected={props.engine === 'postgresql'}>
              PostgreSQL
            </option>
          </select>
          <input
            name="name"
            value={props.name ?? ''}
            placeholder="database name"
            aria-label="Database name"
            aria-invalid={props.error ? 'true' : undefined}
          />
        </div>
        <details class="advanced">
          <summary>Connection for dumps (optional)</summary>
          <div class="grid-2 tight">
            <input name="host" placeholder="host (default: local socket)" aria-label="Host" />
            <input name="port" placeholder="port" aria-label="Port" inputmode="numeric" />
            <input name="username" placeholder="user" aria-label="User" autocomplete="off" />
            <input
              name="password"
              type="password"
              placeholder="password"
              aria-label="Password"
              autocomplete="new-password"
            />
          </div>
        </details>
        <button class="button" type="submit">
          Assign
        </button>
      </form>
      <FieldError id="f-dbname" error={props.error} />
    </section>
  )
}

export function EditTenantPage(props: {
  ctx: PageCtx
  tenant: Tenant
  values: TenantFormValues
  errors: Errors
  databases: TenantDatabase[]
  /** What will stop this tenant's backups here (a missing home or system user). */
  warnings?: string[]
  /** More cards below the form (e.g. the backup token). */
  extra?: Child
}) {
  const t = props.tenant
  return (
    <Layout ctx={props.ctx} title={`Tenant ${t.name}`} active="tenants">
      <PageHead
        title={t.name}
        lead={
          (t.disabled ? 'Disabled: cannot sign in; backups paused.' : 'Active tenant.') +
          (t.plan ? ` Plan “${t.plan}”.` : ' No plan.') +
          (t.node ? ` On node ${t.node}.` : '')
        }
      >
        <a class="button" href={`/admin/tenants/${t.id}/runs`}>
          Health and runs
        </a>
        {t.disabled ? (
          <form method="post" action={`/admin/tenants/${t.id}/enable`}>
            <Csrf token={props.ctx.csrf} />
            <button class="button" type="submit">
              Enable tenant
            </button>
          </form>
        ) : (
          <a class="button danger" href={`/admin/tenants/${t.id}/disable`}>
            Disable tenant
          </a>
        )}
        <a class="button danger-ghost" href={`/admin/tenants/${t.id}/remove`}>
          Remove tenant
        </a>
      </PageHead>
      {props.warnings?.map((w) => (
        <p class="flash flash-warn" role="status">
          {w}
        </p>
      ))}
      <div class="grid-2">
        <TenantForm
          csrf={props.ctx.csrf}
          values={{
            ...props.values,
            plan: props.values.plan ?? t.plan ?? '',
            node: props.values.node ?? t.node ?? '',
          }}
          errors={props.errors}
          tenantId={t.id}
        />
        <DatabasesCard csrf={props.ctx.csrf} tenantId={t.id} databases={props.databases} />
      </div>
      {props.extra}
    </Layout>
  )
}
