import { Hono } from 'hono'
import { type AppEnv } from './context.ts'
import { backupRoutes } from './backups.tsx'
import { destinationRoutes } from './destinations.tsx'
import { connectRoutes } from './connect.tsx'
import { policyRoutes } from './policies.tsx'
import { restoreRoutes } from './restore.tsx'
import { recoveryRoutes } from './recovery.tsx'
import { notificationRoutes } from './notifications.tsx'
import { activityLogRoutes } from './activity-log.tsx'
import { accessRoutes } from './access.tsx'

export const tenantRoutes = new Hono<AppEnv>()

tenantRoutes.use('*', async (c, next) => {
  const { user, tenant } = c.get('auth')
  if (!user) return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`)
  if (user.role === 'admin' || !tenant) return c.redirect('/admin')
  await next()
})

tenantRoutes.route('/', backupRoutes)
tenantRoutes.route('/destinations', connectRoutes)
tenantRoutes.route('/destinations', destinationRoutes)
tenantRoutes.route('/policies', policyRoutes)
// The policies' old address: pages and links redirect; a form still open there saves as before.
tenantRoutes.get('/settings/*', (c) => {
  const url = new URL(c.req.url)
  return c.redirect(
    url.pathname.replace(/^\/backups\/settings/, '/backups/policies') + url.search,
    301,
  )
})
tenantRoutes.route('/settings', policyRoutes)
tenantRoutes.route('/restore', restoreRoutes)
tenantRoutes.route('/recovery', recoveryRoutes)
tenantRoutes.route('/notifications', notificationRoutes)
tenantRoutes.route('/activity-log', activityLogRoutes)
tenantRoutes.route('/access', accessRoutes)
