import { Layout, PageHead, type PageCtx } from './layout.tsx'
import type { PolicyWithLinks } from '../src/db/policies.ts'
import { formatInZone, nextRuns } from '../src/schedule.ts'

export function OverviewPage(props: { ctx: PageCtx; policies: PolicyWithLinks[]; destinationCount: number }) {
  const rows = props.policies.flatMap((p) => p.destinations.map((d) => ({ p, d })))
  return (
    <Layout ctx={props.ctx} title="Overview" active="overview">
      <PageHead title="Backups" lead="Every policy and destination, and how its backups are doing." />
      {rows.length === 0 ? (
        <div class="card empty">
          <h2>No backups yet</h2>
          {props.destinationCount === 0 ? (
            <p>
              Start by <a href="/backups/destinations/new">adding a destination</a>, then create a policy under{' '}
              <a href="/backups/settings">Settings</a>.
            </p>
          ) : (
            <p>
              You have a destination. <a href="/backups/settings/new">Create a policy</a> to say what to back up and when.
            </p>
          )}
        </div>
      ) : (
        <div class="card table-card">
          <table>
            <thead>
              <tr>
                <th>Policy</th>
                <th>Destination</th>
                <th>Last run</th>
                <th>Next run</th>
              </tr>
            </thead>
            <tbody>
              {rows.map(({ p, d }) => {
                const next = nextRuns(p.schedule, p.timezone, 1)
                return (
                  <tr>
                    <td class="strong">{p.name}</td>
                    <td>{d.name}</td>
                    <td>
                      <span class="badge badge-muted">No backups yet</span>
                    </td>
                    <td>{p.enabled && next.ok ? formatInZone(next.next[0]!, p.timezone) : 'Paused'}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  )
}
