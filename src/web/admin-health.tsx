import { Hono } from 'hono'
import {
  countTenantHealth,
  listTenantHealth,
  pageParam,
  parseHealthQuery,
  tenantHealthOf,
} from '../db/health-list.ts'
import { listDestinations } from '../db/destinations.ts'
import { listPolicies } from '../db/policies.ts'
import { getRun, pageOfRuns, runLogsOf, runStagesOf } from '../db/runs.ts'
import { listHeartbeats, nodeState } from '../db/runner-heartbeats.ts'
import { getTenant } from '../db/tenants.ts'
import { TenantsPage } from '../../views/admin-tenants.tsx'
import { HealthTable, NodeStates } from '../../views/admin-health.tsx'
import { TenantRunsPage } from '../../views/admin-tenant-runs.tsx'
import { RunPage } from '../../views/run.tsx'
import { type AppEnv, idParam, isHtmx, pageCtx } from './context.ts'

const RUNS_PER_PAGE = 50

/**
 * Admin > Tenants (backup health of every tenant) and the read-only drill-down into one
 * tenant's runs, stages and logs. Mounted under the admin guard in admin.tsx.
 */
export const adminHealthRoutes = new Hono<AppEnv>()

adminHealthRoutes.get('/tenants', async (c) => {
  const { db } = c.get('deps')
  const now = new Date()
  const query = parseHealthQuery((key) => c.req.query(key))
  const result = await listTenantHealth(db, query, now)
  const counts = await countTenantHealth(db, query, now)
  const shown = { ...query, page: result.page }
  const beats = await listHeartbeats(db)
  const stateOf = (node: string | null) => nodeState(beats, node, now)
  return c.html(
    <NodeStates.Provider value={stateOf}>
      {isHtmx(c) ? (
        <HealthTable query={shown} result={result} counts={counts} now={now} />
      ) : (
        <TenantsPage ctx={pageCtx(c)} query={shown} result={result} counts={counts} now={now} />
      )}
    </NodeStates.Provider>,
  )
})

adminHealthRoutes.get('/tenants/:id/runs', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  let page = pageParam(c.req.query('page'))
  let { rows, total } = await pageOfRuns(db, tenant.id, page, RUNS_PER_PAGE)
  const pages = Math.max(1, Math.ceil(total / RUNS_PER_PAGE))
  if (page > pages)
    ({ rows, total } = await pageOfRuns(db, tenant.id, (page = pages), RUNS_PER_PAGE))
  const names = new Map((await listPolicies(db, tenant.id)).map((p) => [p.id, p.name]))
  const runs = rows.map((r) => ({
    ...r,
    policyName: r.policyId ? (names.get(r.policyId) ?? null) : null,
  }))
  const health = await tenantHealthOf(db, tenant.id)
  return c.html(
    <TenantRunsPage
      ctx={pageCtx(c)}
      tenant={tenant}
      health={health}
      runs={runs}
      page={page}
      pages={pages}
      total={total}
      now={new Date()}
    />,
  )
})

// The tenant's own run page, read-only: stage names, results, sizes and plain-words log lines;
// destinations by name only, never their settings.
adminHealthRoutes.get('/tenants/:id/runs/:runId', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  const run = await getRun(db, tenant.id, idParam(c, 'runId'))
  const dests = new Map((await listDestinations(db, tenant.id)).map((d) => [d.id, d.name]))
  const stages = (await runStagesOf(db, run.id)).map((s) => ({
    ...s,
    destinationName: s.destinationId ? (dests.get(s.destinationId) ?? null) : null,
  }))
  const policyName = run.policyId
    ? ((await listPolicies(db, tenant.id)).find((p) => p.id === run.policyId)?.name ?? null)
    : null
  const back = { href: `/admin/tenants/${tenant.id}/runs`, label: `← ${tenant.name}’s runs` }
  return c.html(
    <RunPage
      ctx={pageCtx(c)}
      run={run}
      policyName={policyName}
      stages={stages}
      logs={await runLogsOf(db, run.id)}
      active="tenants"
      back={back}
    />,
  )
})
