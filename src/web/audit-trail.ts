import { audit } from '../db/audit.ts'
import { type Ctx, clientIp } from './context.ts'

export type WebAuditFacts = {
  /** What was acted on, in words (a name, a snapshot id…). */
  target?: string | null
  /** Extra facts; never secrets, passwords, tokens, settings values or file contents. */
  details?: Record<string, unknown> | null
  /** The tenant the action concerns; defaults to the signed-in tenant (null for an admin). */
  tenantId?: number | null
}

/**
 * Appends an audit entry for the signed-in user of this request: who (username), from where
 * (client address) and for which tenant. Never throws (see `audit`).
 */
export async function auditWeb(c: Ctx, action: string, facts: WebAuditFacts = {}): Promise<void> {
  const { user, tenant } = c.get('auth')
  await audit(c.get('deps').db, {
    actor: user?.username ?? 'anonymous',
    userId: user?.id ?? null,
    tenantId: facts.tenantId !== undefined ? facts.tenantId : (tenant?.id ?? null),
    action,
    target: facts.target ?? null,
    ip: clientIp(c),
    details: facts.details ?? null,
  })
}
