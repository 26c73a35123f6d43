import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf } from './fields.tsx'
import { keepsSentence } from './format.ts'
import type { ProviderPolicyWithLinks } from '../src/db/provider-policies.ts'

export { ProviderPolicyForm, ProviderPolicyFormPage } from './admin-policy-form.tsx'
export type { ProviderPolicyFormProps } from './admin-policy-form.tsx'

/** A provider policy with how many tenants have a copy of it. */
export type ProviderPolicyRow = ProviderPolicyWithLinks & { tenants: number }

const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/** "All tenants" or "Plan “gold”". */
export function whoWords(p: { scope: string; plan: string | null }): string {
  return p.scope === 'plan' ? `Plan “${p.plan ?? ''}”` : 'All tenants'
}

/** "no tenants", "1 tenant", "4 tenants". */
export const tenantsWords = (n: number) =>
  n === 0 ? 'no tenants' : n === 1 ? '1 tenant' : `${n} tenants`

function whatWords(p: ProviderPolicyWithLinks): string {
  const home = p.includeHome
    ? p.excludeGlobs.length
      ? `Home files (skipping ${p.excludeGlobs.length} pattern${p.excludeGlobs.length === 1 ? '' : 's'})`
      : 'Home files'
    : null
  return [home, p.includeDatabases && 'All assigned databases'].filter(Boolean).join(', ')
}

/** Admin > Backup policies: the backups the host runs for its tenants. */
export function AdminPoliciesPage(props: {
  ctx: PageCtx
  policies: ProviderPolicyRow[]
  /** The server's time zone, which the start windows are in. */
  zone: string
  hasDestinations: boolean
}) {
  return (
    <Layout ctx={props.ctx} title="Backup policies" active="policies">
      <PageHead
        title="Backup policies"
        lead="Backups the host runs for its tenants. Tenants see them but cannot change them."
      >
        <a class="button primary" href="/admin/policies/new">
          New policy
        </a>
      </PageHead>
      {props.policies.length === 0 ? (
        <div class="card empty">
          <h2>No backup policies yet</h2>
          {props.hasDestinations ? (
            <p>Create a policy to back up every tenant, or the tenants of one plan.</p>
          ) : (
            <p>
              First add a destination under{' '}
              <a href="/admin/destinations">Administration › Destinations</a>, then create a policy.
            </p>
          )}
          <a class="button primary" href="/admin/policies/new">
            New policy
          </a>
        </div>
      ) : (
        <div class="policy-list">
          {props.policies.map((p) => (
            <article class="card policy" id={`policy-${p.id}`}>
              <header class="policy-head">
                <h2>{p.name}</h2>
                {p.enabled ? (
                  <span class="badge badge-ok">Enabled</span>
                ) : (
                  <span class="badge badge-muted">Paused</span>
                )}
                <div class="policy-actions">
                  <a class="button small" href={`/admin/policies/${p.id}`}>
                    Edit
                  </a>
                  <a class="button small danger-ghost" href={`/admin/policies/${p.id}/delete`}>
                    Delete
                  </a>
                </div>
              </header>
              <dl class="facts">
                <div>
                  <dt>Who</dt>
                  <dd>{whoWords(p)}</dd>
                </div>
                <div>
                  <dt>Backs up</dt>
                  <dd>{whatWords(p)}</dd>
                </div>
                <div>
                  <dt>Destinations</dt>
                  <dd>{p.destinations.map((d) => d.name).join(', ')}</dd>
                </div>
                <div>
                  <dt>When</dt>
                  <dd>
                    Daily, each tenant starting between {p.windowStart} and {p.windowEnd}
                  </dd>
                </div>
                <div>
                  <dt>How long</dt>
                  <dd>{keepsSentence(p)}</dd>
                </div>
                <div>
                  <dt>Covers</dt>
                  <dd>{sentence(tenantsWords(p.tenants))}</dd>
                </div>
              </dl>
            </article>
          ))}
        </div>
      )}
    </Layout>
  )
}

/** Are you sure? Works without JavaScript: the delete form carries `confirm=yes`. */
export function DeletePolicyPage(props: { ctx: PageCtx; policy: ProviderPolicyRow }) {
  const p = props.policy
  return (
    <Layout ctx={props.ctx} title="Delete backup policy?" active="policies">
      <PageHead
        title={`Delete “${p.name}”?`}
        lead={`${whoWords(p)}: covers ${tenantsWords(p.tenants)} now.`}
      />
      <section class="card confirm-card">
        <p class="confirm-what">
          {p.tenants === 0
            ? 'It backs up no tenant now.'
            : `The host stops running this backup for ${tenantsWords(p.tenants)}.`}{' '}
          Backups it already made stay on the destinations, and tenants can still restore from them.
        </p>
        <form method="post" action={`/admin/policies/${p.id}/delete`} class="form-actions">
          <Csrf token={props.ctx.csrf} />
          <input type="hidden" name="confirm" value="yes" />
          <button class="button danger" type="submit">
            Yes, delete the policy
          </button>
          <a class="button" href="/admin/policies">
            Cancel
          </a>
        </form>
      </section>
    </Layout>
  )
}
