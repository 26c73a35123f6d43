import { Hono } from 'hono'
import { renderAudit } from './admin-audit.tsx'
import { type AppEnv, tenantOf } from './context.ts'
import { safeZone } from '../zoned.ts'

/**
 * The tenant's own audit entries (Backups > Activity log), in their time zone. Scoped to the
 * signed-in tenant in SQL; the query string cannot widen it (no tenant filter is read).
 */
export const activityLogRoutes = new Hono<AppEnv>()

activityLogRoutes.get('/', (c) => {
  const tenant = tenantOf(c)
  return renderAudit(
    c,
    { tenantId: tenant.id },
    { base: '/backups/activity-log', zone: safeZone(tenant.timezone), active: 'activity-log' },
  )
})
