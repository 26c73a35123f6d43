import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { DangerButton } from './fields.tsx'
import { settingsSummary } from './destinations.tsx'
import type { Registry } from '../src/drivers/registry.ts'

export type ProviderDestinationRow = {
  id: number
  name: string
  type: string
  /** Stored settings with each secret reduced to "is set". */
  values: Record<string, unknown>
  /** Names of the provider policies that send backups here. */
  usedBy: string[]
  /** How many tenants have backups stored here. */
  tenants: number
}

const tenantsText = (n: number) => (n === 0 ? 'None' : n === 1 ? '1 tenant' : `${n} tenants`)

/** Admin > Destinations: the host's own storage, which provider backup policies send to. */
export function AdminDestinationsPage(props: {
  ctx: PageCtx
  rows: ProviderDestinationRow[]
  drivers: Registry
}) {
  return (
    <Layout ctx={props.ctx} title="Destinations" active="destinations">
      <PageHead
        title="Destinations"
        lead="The host’s own storage for backing up tenants. Backup policies send to these."
      >
        <a class="button primary" href="/admin/destinations/new">
          Add destination
        </a>
      </PageHead>
      {props.rows.length === 0 ? (
        <div class="card empty">
          <h2>No destinations yet</h2>
          <p>
            Add one to choose where the host’s backups of its tenants go, then create a backup
            policy.
          </p>
          <a class="button primary" href="/admin/destinations/new">
            Add destination
          </a>
        </div>
      ) : (
        <div class="policy-list">
          {props.rows.map((d) => (
            <article class="card policy" id={`destination-${d.id}`}>
              <header class="policy-head">
                <h2>{d.name}</h2>
                <span class="badge">{props.drivers[d.type]?.label ?? d.type}</span>
                <div class="policy-actions">
                  <a class="button small" href={`/admin/destinations/${d.id}`}>
                    Edit
                  </a>
                  <DangerButton
                    action={`/admin/destinations/${d.id}/delete`}
                    csrf={props.ctx.csrf}
                    confirm={
                      `Delete the destination “${d.name}”? Backups already stored there stay ` +
                      'on the storage, but tenants no longer see them in the panel.'
                    }
                    label="Delete"
                  />
                </div>
              </header>
              <dl class="facts">
                <div>
                  <dt>Settings</dt>
                  <dd>{settingsSummary(props.drivers[d.type], d.values) || '—'}</dd>
                </div>
                <div>
                  <dt>Used by</dt>
                  <dd>{d.usedBy.length ? d.usedBy.join(', ') : 'No backup policy'}</dd>
                </div>
                <div>
                  <dt>Tenants with backups here</dt>
                  <dd>{tenantsText(d.tenants)}</dd>
                </div>
              </dl>
            </article>
          ))}
        </div>
      )}
    </Layout>
  )
}
