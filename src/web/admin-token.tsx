import { Hono } from 'hono'
import { getTenant } from '../db/tenants.ts'
import { allowBackupTokenNow, backupTokenState } from '../domain/backup-token.ts'
import { AdminTokenCard } from '../../views/admin-token.tsx'
import { type AppEnv, type Ctx, clientIp, idParam, redirectTo } from './context.ts'
import { serverZone } from '../zoned.ts'

/** Mounted under /admin/tenants, behind the admin guard. */
export const adminTokenRoutes = new Hono<AppEnv>()

/** Skips the waiting period of a tenant's backup token (accounts without a password). */
adminTokenRoutes.post('/:id/token/allow-now', async (c) => {
  const { db } = c.get('deps')
  const tenant = await getTenant(db, idParam(c))
  const user = c.get('auth').user!
  const { already } = await allowBackupTokenNow(db, tenant, {
    actor: user.username,
    userId: user.id,
    ip: clientIp(c),
  })
  const text = already
    ? `The backup token of “${tenant.name}” was already valid.`
    : `The backup token of “${tenant.name}” is valid now.`
  return redirectTo(c, `/admin/tenants/${tenant.id}`, { kind: 'ok', text })
})

/** The card for the admin's tenant page. */
export async function adminTokenCard(c: Ctx, tenant: { id: number; timezone: string }) {
  return (
    <AdminTokenCard
      csrf={c.get('csrf')}
      tenantId={tenant.id}
      state={await backupTokenState(c.get('deps').db, tenant.id)}
      timezone={serverZone()}
    />
  )
}
