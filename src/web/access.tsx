import { Hono } from 'hono'
import { listApiKeys } from '../db/access.ts'
import { backupTokenState, issueBackupToken } from '../domain/backup-token.ts'
import { createApiKey, revokeApiKey } from '../domain/api-keys.ts'
import { InputError, NotFoundError } from '../errors.ts'
import {
  AccessPage,
  KeysCard,
  TokenCard,
  type KeysCardProps,
  type PullProps,
  type TokenCardProps,
} from '../../views/access.tsx'
import { listDestinations } from '../db/destinations.ts'
import { pullScript } from '../pull-script.ts'
import {
  type AppEnv,
  type Ctx,
  clientIp,
  idParam,
  isHtmx,
  pageCtx,
  readForm,
  redirectTo,
  requestOrigin,
  str,
  tenantOf,
} from './context.ts'
import { askToConfirm, confirmed } from './confirm.tsx'

/** Backups > Access: the backup token (OpenProject's flow) and the tenant's API keys. */
export const accessRoutes = new Hono<AppEnv>()

function who(c: Ctx) {
  const user = c.get('auth').user!
  return { actor: user.username, userId: user.id, ip: clientIp(c) }
}

async function tokenProps(
  c: Ctx,
  extra: Partial<TokenCardProps> = {},
): Promise<Omit<TokenCardProps, 'csrf'>> {
  const { db, config } = c.get('deps')
  const tenant = tenantOf(c)
  return {
    state: await backupTokenState(db, tenant.id),
    timezone: tenant.timezone,
    hasPassword: Boolean(c.get('auth').user!.passwordHash),
    delayHours: config.tokenDelayHours,
    ...extra,
  }
}

async function keyProps(
  c: Ctx,
  extra: Partial<KeysCardProps> = {},
): Promise<Omit<KeysCardProps, 'csrf'>> {
  const tenant = tenantOf(c)
  return {
    keys: await listApiKeys(c.get('deps').db, tenant.id),
    timezone: tenant.timezone,
    ...extra,
  }
}

/** The whole page, or just the card an htmx form swaps. Secrets shown once are never cached. */
async function render(
  c: Ctx,
  card: 'token' | 'keys',
  token: Partial<TokenCardProps>,
  keys: Partial<KeysCardProps>,
  status: 200 | 422 = 200,
) {
  c.header('Cache-Control', 'no-store')
  const csrf = c.get('csrf')
  if (isHtmx(c)) {
    return c.html(
      card === 'token' ? (
        <TokenCard csrf={csrf} {...await tokenProps(c, token)} />
      ) : (
        <KeysCard csrf={csrf} {...await keyProps(c, keys)} />
      ),
      status,
    )
  }
  return c.html(
    <AccessPage
      ctx={pageCtx(c)}
      token={await tokenProps(c, token)}
      keys={await keyProps(c, keys)}
      pull={await pullProps(c)}
    />,
    status,
  )
}

/** The panel's address as this tenant reaches it: PANEL_BASE_URL, else this request's origin. */
function panelUrl(c: Ctx): string {
  return c.get('deps').config.baseUrl ?? requestOrigin(c)
}

async function pullProps(c: Ctx): Promise<PullProps> {
  const destinations = await listDestinations(c.get('deps').db, tenantOf(c).id)
  return { panelUrl: panelUrl(c), destinations: destinations.map(({ id, name }) => ({ id, name })) }
}

accessRoutes.get('/', (c) => render(c, 'token', {}, {}))

/** The pull script with this panel's address filled in, to save as /usr/local/bin/panel-pull. */
accessRoutes.get('/panel-pull', (c) => {
  c.header('Content-Type', 'text/x-shellscript; charset=utf-8')
  c.header('Content-Disposition', 'attachment; filename="panel-pull"')
  return c.body(pullScript(panelUrl(c)))
})

accessRoutes.post('/token', async (c) => {
  const form = await readForm(c)
  const input = { confirm: str(form, 'confirm'), password: str(form, 'password') }
  try {
    const { token } = await issueBackupToken(
      c.get('deps'),
      tenantOf(c),
      c.get('auth').user!,
      input,
      who(c),
    )
    return render(c, 'token', { fresh: token }, {})
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    return render(c, 'token', { errors: err.errors, confirm: input.confirm }, {}, 422)
  }
})

accessRoutes.post('/keys', async (c) => {
  const name = str(await readForm(c), 'name')
  try {
    const { key, row } = await createApiKey(c.get('deps').db, tenantOf(c).id, name, who(c))
    return render(c, 'keys', {}, { fresh: { key, name: row.name } })
  } catch (err) {
    if (!(err instanceof InputError)) throw err
    return render(c, 'keys', {}, { error: err.errors.name, name }, 422)
  }
})

accessRoutes.post('/keys/:id/revoke', async (c) => {
  const tenant = tenantOf(c)
  const key = (await listApiKeys(c.get('deps').db, tenant.id)).find((k) => k.id === idParam(c))
  if (!key) throw new NotFoundError('That API key')
  if (!(await confirmed(c))) {
    return askToConfirm(c, {
      title: `Revoke the API key “${key.name}”?`,
      points: [
        `Scripts that use this key (it starts ${key.prefix}…) stop working at once: the panel answers them “unauthorized”.`,
        'This cannot be undone: to let a script in again, create a new key and put it in the script.',
      ],
      button: 'Yes, revoke the key',
      cancel: '/backups/access',
      active: 'access',
    })
  }
  const row = await revokeApiKey(c.get('deps').db, tenantOf(c).id, idParam(c), who(c))
  if (isHtmx(c)) return render(c, 'keys', {}, {})
  return redirectTo(c, '/backups/access', { kind: 'ok', text: `Key “${row.name}” revoked.` })
})
