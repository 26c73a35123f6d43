import { Csrf } from './fields.tsx'
import { formatInZone } from '../src/schedule.ts'
import type { TokenState } from '../src/domain/backup-token.ts'

/** The tenant's backup-token state on the admin's tenant page, with "Allow now" while it waits. */
export function AdminTokenCard(props: {
  csrf: string
  tenantId: number
  state: TokenState
  timezone: string
}) {
  const s = props.state
  return (
    <section class="card" id="backup-token">
      <h2>Backup token</h2>
      {s.status === 'none' && (
        <p class="help">No backup token: the tenant cannot pull backups through the API.</p>
      )}
      {s.status === 'active' && (
        <p>
          <span class="badge badge-ok">Active</span> Created{' '}
          {formatInZone(s.createdAt, props.timezone)}.
        </p>
      )}
      {s.status === 'pending' && (
        <>
          <p>
            <span class="badge badge-warn">Waiting</span> Valid from{' '}
            {formatInZone(s.activeFrom, props.timezone)}. The account has no password, so a new
            token waits before it works. Allow it now only if you know the tenant made it.
          </p>
          <form method="post" action={`/admin/tenants/${props.tenantId}/token/allow-now`}>
            <Csrf token={props.csrf} />
            <button class="button" type="submit">
              Allow token now
            </button>
          </form>
        </>
      )}
    </section>
  )
}
