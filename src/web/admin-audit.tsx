import { Hono } from 'hono'
import { listAudit, type AuditScope } from '../db/audit-log.ts'
import { NotFoundError } from '../errors.ts'
import { serverZone } from '../zoned.ts'
import { AuditPage, AuditResults, type AuditViewProps } from '../../views/audit.tsx'
import { auditQueryString, readAuditQuery } from './audit-query.ts'
import { type AppEnv, type Ctx, isHtmx, pageCtx } from './context.ts'

/**
 * The audit log page for a scope: the filter from the query string, one page of entries from
 * SQL, the whole page or (htmx) just the filter and results block.
 */
export async function renderAudit(
  c: Ctx,
  scope: AuditScope,
  opts: { base: string; zone: string; active: string },
) {
  const admin = scope === 'all'
  const { filter, values, errors } = await readAuditQuery(c, opts.zone, admin)
  const page = await listAudit(c.get('deps').db, scope, filter)
  const props: AuditViewProps = {
    base: opts.base,
    admin,
    zone: opts.zone,
    values,
    errors,
    rows: page.rows,
    newer: page.newer ? opts.base + auditQueryString(values, { after: page.newer }) : null,
    older: page.older ? opts.base + auditQueryString(values, { before: page.older }) : null,
    viewerId: admin ? undefined : c.get('auth').user?.id,
  }
  c.header('Cache-Control', 'no-store')
  if (isHtmx(c)) return c.html(<AuditResults {...props} />)
  return c.html(<AuditPage ctx={pageCtx(c)} active={opts.active} {...props} />)
}

/** Admin > Audit log: every tenant's entries and the panel's own (admin sign-ins, settings). */
export const adminAuditRoutes = new Hono<AppEnv>()

// Checked here too, not only by the /admin guard, so mounting order can never open it up.
adminAuditRoutes.use('*', async (c, next) => {
  const { user } = c.get('auth')
  if (!user) return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`)
  if (user.role !== 'admin') throw new NotFoundError()
  await next()
})

adminAuditRoutes.get('/', (c) =>
  renderAudit(c, 'all', { base: '/admin/audit', zone: serverZone(), active: 'audit' }),
)
