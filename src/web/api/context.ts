import type { Context } from 'hono'
import type { ApiKey, Tenant } from '../../db/schema.ts'
import { clientIp, type Deps } from '../context.ts'
import { audit } from '../../db/audit.ts'
import { checkBackupToken } from '../../domain/backup-token.ts'
import { ApiError } from './errors.ts'

/** What every /api/v1 handler has: the deps, and the tenant and key the Bearer key stands for. */
export type ApiEnv = { Variables: { deps: Deps; tenant: Tenant; apiKey: ApiKey } }
export type ApiCtx = Context<ApiEnv>

/** A positive integer id from the path or query; anything else is `not_found` (path) or `invalid`. */
export function idOf(c: ApiCtx, name: string, from: 'param' | 'query' = 'param'): number {
  const text = (from === 'param' ? c.req.param(name) : c.req.query(name)) ?? ''
  if (/^[1-9]\d{0,9}$/.test(text) && Number(text) < 2 ** 31) return Number(text)
  if (from === 'param') throw new ApiError(404, 'not_found', 'That does not exist or is not yours.')
  throw new ApiError(422, 'invalid', `“${name}” must be an id (a whole number).`, {
    [name]: 'Give an id from the API.',
  })
}

/** The query id, or undefined when the parameter is absent or empty. */
export function optionalId(c: ApiCtx, name: string): number | undefined {
  return c.req.query(name) ? idOf(c, name, 'query') : undefined
}

/**
 * Reading backup data needs the tenant's backup token in `X-Backup-Token` besides the key
 * (OpenProject's rule): a stolen API key alone cannot pull backups.
 */
export async function requireBackupToken(c: ApiCtx): Promise<void> {
  const check = await checkBackupToken(
    c.get('deps').db,
    c.get('tenant').id,
    c.req.header('x-backup-token'),
  )
  if (check.ok) return
  if (check.reason === 'missing') {
    throw new ApiError(
      403,
      'backup_token_missing',
      'Reading backups needs your backup token in the X-Backup-Token header. Create one under Backups > Access.',
    )
  }
  if (check.reason === 'invalid') {
    throw new ApiError(
      403,
      'backup_token_invalid',
      'That backup token is not valid: it was mistyped or has been reset. Create a new one under Backups > Access.',
    )
  }
  throw new ApiError(
    403,
    'backup_token_not_active',
    `Your backup token becomes valid at ${check.activeFrom!.toISOString()}. An administrator can allow it sooner.`,
  )
}

/** Records an API action as `api:<key prefix>`, from the client's address. */
export async function auditApi(
  c: ApiCtx,
  action: string,
  target: string,
  details?: Record<string, unknown>,
): Promise<void> {
  await audit(c.get('deps').db, {
    actor: `api:${c.get('apiKey').prefix}`,
    tenantId: c.get('tenant').id,
    action,
    target,
    ip: clientIp(c),
    details: details ?? null,
  })
}
