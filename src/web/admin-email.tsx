import { Hono } from 'hono'
import { setAdminEmail } from '../db/notifications.ts'
import { emailProblem } from '../notify/settings.ts'
import { AdminEmailCard } from '../../views/admin-email.tsx'
import { Layout, PageHead } from '../../views/layout.tsx'
import { auditWeb } from './audit-trail.ts'
import { type AppEnv, type Ctx, isHtmx, pageCtx, readForm, redirectTo, str } from './context.ts'

/** The card for the signed-in admin, as shown on Admin > Policy limits. */
export function adminEmailCard(c: Ctx) {
  const { config } = c.get('deps')
  const email = c.get('auth').user?.email ?? ''
  return <AdminEmailCard csrf={c.get('csrf')} email={email} emailOn={Boolean(config.smtp)} />
}

/** POST /admin/settings/email: the signed-in admin's own address (users.email). */
export const adminEmailRoutes = new Hono<AppEnv>()

adminEmailRoutes.post('/', async (c) => {
  const { db, config } = c.get('deps')
  const user = c.get('auth').user!
  const email = str(await readForm(c), 'adminEmail').trim()
  const error = email ? (emailProblem(email) ?? undefined) : undefined
  if (error) {
    const card = (
      <AdminEmailCard
        csrf={c.get('csrf')}
        email={email}
        error={error}
        emailOn={Boolean(config.smtp)}
      />
    )
    if (isHtmx(c)) return c.html(card, 422)
    const page = (
      <Layout ctx={pageCtx(c)} title="Your notices" active="settings">
        <PageHead title="Your notices" />
        {card}
      </Layout>
    )
    return c.html(page, 422)
  }
  await setAdminEmail(db, user.id, email || null)
  await auditWeb(c, 'admin.email', { tenantId: null, details: { set: Boolean(email) } })
  if (!isHtmx(c))
    return redirectTo(c, '/admin/settings', {
      kind: 'ok',
      text: email ? 'Your e-mail address is saved.' : 'Your e-mail address is removed.',
    })
  return c.html(
    <AdminEmailCard csrf={c.get('csrf')} email={email} emailOn={Boolean(config.smtp)} saved />,
  )
})
