import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf, FieldError } from './fields.tsx'
import type { Tenant } from '../src/db/schema.ts'

/** Disable a tenant: what it does, then one button; works without JavaScript. */
export function DisableTenantPage(props: { ctx: PageCtx; tenant: Tenant }) {
  const t = props.tenant
  return (
    <Layout ctx={props.ctx} title={`Disable ${t.name}`} active="tenants">
      <PageHead title={`Disable “${t.name}”?`} />
      <section class="card">
        <ul>
          <li>{t.name} is signed out everywhere and cannot sign in.</li>
          <li>Its scheduled backups stop until you enable it again (nothing is deleted).</li>
          <li>Its stored backups stay where they are.</li>
        </ul>
        <form method="post" action={`/admin/tenants/${t.id}/disable`} class="form-actions">
          <Csrf token={props.ctx.csrf} />
          <input type="hidden" name="confirm" value="yes" />
          <button class="button danger" type="submit">
            Disable {t.name}
          </button>
          <a class="button" href={`/admin/tenants/${t.id}`}>
            Cancel
          </a>
        </form>
      </section>
    </Layout>
  )
}

/** Remove a tenant from the panel: says what stays, and asks for the name typed out. */
export function RemoveTenantPage(props: {
  ctx: PageCtx
  tenant: Tenant
  error?: string
  status?: string
}) {
  const t = props.tenant
  return (
    <Layout ctx={props.ctx} title={`Remove ${t.name}`} active="tenants">
      <PageHead title={`Remove “${t.name}” from the panel?`} />
      <section class="card">
        <p>
          This removes the tenant’s account, policies, destinations, queue and history from the
          panel.
        </p>
        <ul>
          <li>
            Its home folder <code>{t.homeDir}</code>
            {t.systemUser ? (
              <>
                {' '}
                and system user <code>{t.systemUser}</code>
              </>
            ) : null}{' '}
            are not touched.
          </li>
          <li>
            Its stored backups stay on their destinations (restorable with its recovery kit);
            backups on this server move to a <code>.removed-{t.name}-…</code> folder.
          </li>
        </ul>
        <form method="post" action={`/admin/tenants/${t.id}/remove`} novalidate>
          <Csrf token={props.ctx.csrf} />
          <label for="f-confirm-name">Type {t.name} to confirm</label>
          <input
            id="f-confirm-name"
            name="confirmName"
            autocomplete="off"
            aria-invalid={props.error ? 'true' : undefined}
            aria-describedby={props.error ? 'f-confirm-name-error' : undefined}
          />
          <FieldError id="f-confirm-name" error={props.error} />
          <div class="form-actions">
            <button class="button danger" type="submit">
              Remove {t.name}
            </button>
            <a class="button" href={`/admin/tenants/${t.id}`}>
              Cancel
            </a>
          </div>
        </form>
      </section>
    </Layout>
  )
}
