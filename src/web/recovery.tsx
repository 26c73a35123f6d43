import { Hono } from 'hono'
import { getDestination, listDestinations } from '../db/destinations.ts'
import { findRepository } from '../db/repositories.ts'
import { confirmPassword } from '../auth/throttle.ts'
import { recoveryKit } from '../engine/restic/recovery.ts'
import { RecoveryPage } from '../../views/recovery.tsx'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, type Ctx, pageCtx, readForm, str, tenantOf } from './context.ts'

export const recoveryRoutes = new Hono<AppEnv>()

function withRepos(c: Ctx) {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  return listDestinations(db, tenant.id).filter(
    (d) => findRepository(db, tenant.id, d.id)?.initializedAt,
  )
}

recoveryRoutes.get('/', (c) =>
  c.html(<RecoveryPage ctx={pageCtx(c)} destinations={withRepos(c)} />),
)

/** Shows the kit only after the account password is typed again (throttled like sign-in). */
recoveryRoutes.post('/', async (c) => {
  const { db, config, drivers } = c.get('deps')
  const tenant = tenantOf(c)
  const user = c.get('auth').user!
  const form = await readForm(c)
  const dest = getDestination(db, tenant.id, Number(str(form, 'destination')) || 0)
  const refused = await confirmPassword(db, user, str(form, 'password'))
  if (refused) {
    if (!refused.locked)
      auditWeb(c, 'recovery.denied', { target: dest.name, details: { reason: 'wrong password' } })
    const page = (
      <RecoveryPage
        ctx={pageCtx(c)}
        destinations={withRepos(c)}
        chosen={dest.id}
        error={refused.message}
      />
    )
    return c.html(page, refused.locked ? 429 : 401)
  }
  const kit = recoveryKit({ db, config, drivers }, tenant, dest)
  auditWeb(c, 'recovery.view', { target: dest.name })
  c.header('Cache-Control', 'no-store')
  return c.html(
    <RecoveryPage ctx={pageCtx(c)} destinations={[]} kit={{ ...kit, destination: dest.name }} />,
  )
})
