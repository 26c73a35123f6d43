import type { Destination, Tenant } from '../db/schema.ts'
import type { DestinationDeps } from './destinations.ts'
import { readSecrets } from '../db/destinations.ts'
import { parseSettings } from '../drivers/spec.ts'
import { probe } from '../drivers/probe.ts'
import { StorageError } from '../drivers/types.ts'
import { guardPolicy } from '../db/settings.ts'
import { NotFoundError } from '../errors.ts'

export type TestResult =
  | { ok: true; message: string; pinned: Record<string, unknown> }
  | { ok: false; message: string; errors?: Record<string, string> }

/**
 * Test connection for a tenant's destination from form text (blank secrets fall back to the
 * stored destination's). See `testSettings`; `pinned` is for the caller to keep with
 * `mergeDestination` for a saved destination.
 */
export async function testConnection(
  deps: DestinationDeps & { localRoot: string },
  tenant: Tenant,
  type: string,
  raw: Record<string, string | undefined>,
  existing: Destination | null,
): Promise<TestResult> {
  const stored = existing ? readSecrets(deps.secretKey, tenant.id, existing) : {}
  return testSettings(deps, tenant.name, type, raw, stored)
}

/**
 * Test connection from form text, for any owner: `contextName` is the driver context's name (a
 * tenant's name, or HOST_CONTEXT_NAME for the host's own destinations) and `stored` the secrets
 * kept for the destination being edited (blank secret fields fall back to them). Passes the
 * outbound guard, pins what the driver pins on first contact, then writes, reads back, lists and
 * removes a probe object. Never throws for a connection problem; says what went wrong in plain
 * words.
 */
export async function testSettings(
  deps: DestinationDeps & { localRoot: string },
  contextName: string,
  type: string,
  raw: Record<string, string | undefined>,
  stored: Record<string, string>,
): Promise<TestResult> {
  const entry = deps.drivers[type]
  if (!entry) throw new NotFoundError('That destination type')
  const parsed = parseSettings(entry.settings, raw, stored)
  if (!parsed.ok)
    return { ok: false, message: 'Fix the highlighted fields first.', errors: parsed.errors }
  const ctx = {
    tenantName: contextName,
    localRoot: deps.localRoot,
    guard: await guardPolicy(deps.db),
  }
  const signal = AbortSignal.timeout(30_000)
  let driver
  try {
    const pinned = (await entry.pin?.(parsed.settings, parsed.secrets, ctx)) ?? {}
    driver = entry.open(Object.assign({}, parsed.settings, pinned), parsed.secrets, ctx)
    const message = await probe(driver, signal)
    return { ok: true, message, pinned }
  } catch (err) {
    if (signal.aborted)
      return { ok: false, message: 'Timed out after 30 seconds without an answer.' }
    return {
      ok: false,
      message: err instanceof StorageError ? err.message : (err as Error).message,
    }
  } finally {
    await driver?.close?.().catch(() => {})
  }
}
