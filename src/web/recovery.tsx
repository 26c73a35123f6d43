import { Hono } from 'hono'
import { getDestination, listDestinations } from '../db/destinations.ts'
import { findRepository } from '../db/repositories.ts'
import { confirmPassword } from '../auth/throttle.ts'
import { activeJobs } from '../db/jobs.ts'
import { recoveryKit } from '../engine/restic/recovery.ts'
import { requestRekey } from '../domain/rekey.ts'
import { ChangePasswordPage, RecoveryPage } from '../../views/recovery.tsx'
import { auditWeb } from './audit-trail.ts'
import {
  type AppEnv,
  type Ctx,
  clientIp,
  idParam,
  pageCtx,
  readForm,
  redirectTo,
  str,
  tenantOf,
} from './context.ts'

export const recoveryRoutes = new Hono<AppEnv>()

/** The tenant's destinations holding a repository, each marked when a password change is queued. */
async function withRepos(c: Ctx) {
  const { db } = c.get('deps')
  const tenant = tenantOf(c)
  const pending = new Set(
    (await activeJobs(db, tenant.id)).flatMap((j) =>
      j.kind === 'rekey' ? [j.payload.destinationId] : [],
    ),
  )
  const withRepo = []
  for (const d of await listDestinations(db, tenant.id))
    if ((await findRepository(db, tenant.id, d.id))?.initializedAt) withRepo.push(d)
  return withRepo.map((d) => ({ id: d.id, name: d.name, pending: pending.has(d.id) }))
}

recoveryRoutes.get('/', async (c) =>
  c.html(<RecoveryPage ctx={pageCtx(c)} destinations={await withRepos(c)} />),
)

/** Shows the kit only after the account password is typed again (throttled like sign-in). */
recoveryRoutes.post('/', async (c) => {
  const { db, config, drivers } = c.get('deps')
  const tenant = tenantOf(c)
  const user = c.get('auth').user!
  const form = await readForm(c)
  const dest = await getDestination(db, tenant.id, Number(str(form, 'destination')) || 0)
  const refused = await confirmPassword(db, user, str(form, 'password'), clientIp(c))
  if (refused) {
    if (!refused.throttled)
      await auditWeb(c, 'recovery.denied', {
        target: dest.name,
        details: { reason: 'wrong password' },
      })
    const page = (
      <RecoveryPage
        ctx={pageCtx(c)}
        destinations={await withRepos(c)}
        chosen={dest.id}
        error={refused.message}
      />
    )
    return c.html(page, refused.throttled ? 429 : 401)
  }
  const kit = await recoveryKit({ db, config, drivers }, tenant, dest, { forAdmin: false })
  await auditWeb(c, 'recovery.view', { target: dest.name })
  c.header('Cache-Control', 'no-store')
  return c.html(
    <RecoveryPage ctx={pageCtx(c)} destinations={[]} kit={{ ...kit, destination: dest.name }} />,
  )
})

/**
 * Change password: without `confirm=yes` the confirmation page, with it a queued rekey job (it
 * waits for the tenant's running backup). Another tenant's destination is a 404.
 */
recoveryRoutes.post('/:id/password', async (c) => {
  const deps = c.get('deps')
  const tenant = tenantOf(c)
  const dest = await getDestination(deps.db, tenant.id, idParam(c))
  const form = await readForm(c)
  if (str(form, 'confirm') !== 'yes')
    return c.html(<ChangePasswordPage ctx={pageCtx(c)} destination={dest} />)
  const { job, created } = await requestRekey(deps.db, tenant.id, dest.id, 'manual')
  await auditWeb(c, 'repository.rekey', {
    target: dest.name,
    details: { job: job.id, queued: created },
  })
  if (created) deps.wake?.()
  const text = created
    ? `Password change for “${dest.name}” queued. Once it has run, the recovery kit shows the new password.`
    : `A password change for “${dest.name}” is already queued.`
  return redirectTo(c, '/backups/recovery', { kind: 'ok', text })
})
