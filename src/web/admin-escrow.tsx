import { Hono } from 'hono'
import { InputError, NotFoundError } from '../errors.ts'
import { escrowTargets, sealedRecoveryKits } from '../engine/restic/escrow.ts'
import { AdminEscrowPage } from '../../views/admin-escrow.tsx'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, pageCtx, readForm, str } from './context.ts'

/** Admin > Recovery kits: the sealed export of every tenant's recovery kits (escrow). */
export const adminEscrowRoutes = new Hono<AppEnv>()

// Checked here too, not only by the /admin guard, so mounting order can never open it up.
adminEscrowRoutes.use('*', async (c, next) => {
  const { user } = c.get('auth')
  if (!user) return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`)
  if (user.role !== 'admin') throw new NotFoundError()
  await next()
})

adminEscrowRoutes.get('/', async (c) => {
  const count = (await escrowTargets(c.get('deps'))).length
  return c.html(<AdminEscrowPage ctx={pageCtx(c)} count={count} />)
})

/** Answers the sealed file as a download, or the page with the key's error beside the field. */
adminEscrowRoutes.post('/', async (c) => {
  const deps = c.get('deps')
  const recipient = str(await readForm(c), 'recipient')
  let sealed
  try {
    sealed = await sealedRecoveryKits(deps, recipient)
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    const count = (await escrowTargets(deps)).length
    const page = (
      <AdminEscrowPage
        ctx={pageCtx(c)}
        count={count}
        recipient={recipient}
        error={err.errors.recipient}
      />
    )
    return c.html(page, 422)
  }
  await auditWeb(c, 'recovery.escrow', {
    details: { repositories: sealed.count, to: recipient.trim() },
  })
  const name = `recovery-kits-${new Date().toISOString().slice(0, 10)}.age`
  return c.body(new Uint8Array(sealed.data), 200, {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': `attachment; filename="${name}"`,
    'Cache-Control': 'no-store',
  })
})
