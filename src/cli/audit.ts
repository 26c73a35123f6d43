import { userInfo } from 'node:os'
import type { Db } from '../db/client.ts'
import { audit } from '../db/audit.ts'

/** The operating-system account running the CLI, for the audit log; null when it cannot be told. */
function osUser(): string | null {
  try {
    return userInfo().username
  } catch {
    return null
  }
}

/**
 * Appends an audit entry for a CLI verb: actor `cli`, no client address, and the OS account in
 * the details. Never secrets, passwords, tokens or settings values.
 */
export async function auditCli(
  db: Db,
  action: string,
  facts: {
    tenantId?: number | null
    target?: string | null
    details?: Record<string, unknown>
  } = {},
): Promise<void> {
  await audit(db, {
    actor: 'cli',
    action,
    tenantId: facts.tenantId ?? null,
    target: facts.target ?? null,
    details: { ...facts.details, osUser: osUser() },
  })
}
