import { Hono } from 'hono'
import { listDestinations } from '../db/destinations.ts'
import { listPolicies } from '../db/policies.ts'
import { OverviewPage } from '../../views/overview.tsx'
import { type AppEnv, pageCtx, tenantOf } from './context.ts'
import { destinationRoutes } from './destinations.tsx'
import { policyRoutes } from './policies.tsx'

export const tenantRoutes = new Hono<AppEnv>()

tenantRoutes.use('*', async (c, next) => {
  const { user, tenant } = c.get('auth')
  if (!user) return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`)
  if (user.role === 'admin' || !tenant) return c.redirect('/admin')
  await next()
})

tenantRoutes.get('/', (c) => {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const policies = listPolicies(db, tenant.id)
  const destinationCount = listDestinations(db, tenant.id).length
  return c.html(<OverviewPage ctx={pageCtx(c)} policies={policies} destinationCount={destinationCount} />)
})

tenantRoutes.route('/destinations', destinationRoutes)
tenantRoutes.route('/settings', policyRoutes)
