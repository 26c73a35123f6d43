import { execFileSync } from 'node:child_process'
import { loadConfig } from '../../src/config.ts'
import { openDb } from '../../src/db/client.ts'
import { getAdminSettings, setAdminSetting } from '../../src/db/settings.ts'
import { findTenantByName } from '../../src/db/tenants.ts'
import { mergeDestination, saveDestination } from '../../src/domain/destinations.ts'
import { testConnection } from '../../src/domain/test-connection.ts'
import { drivers } from '../../src/drivers/registry.ts'
import type { Spec } from '../../src/drivers/spec.ts'
import { Interrupted, failure, type Measured } from './measure.ts'
import { lastRunTiming, type Panel, type RunTiming } from './panel.ts'
import type { RemoteKind, RemoteServer } from './remotes.ts'
import { ok, type Cell } from './report.ts'

/** One timed panel backup to a remote destination, with what its breakdown needs. */
export type RemoteCase = { cell: Cell; run?: { m: Measured; timing: RunTiming | null } }

/**
 * One remote type in one round: its first backup and its no-change backup, or why the type
 * was skipped (its server is not installed here; never under CI=true).
 */
export type RemoteResult = {
  kind: RemoteKind
  first: RemoteCase
  same: RemoteCase
  skipped?: string
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err))
// As before the Local cases: write back what earlier steps left dirty before timing.
const settle = () => execFileSync('sync')

/**
 * As a tenant would, untimed: the destination form filled in for `server`, Test connection
 * (which also pins what the driver pins, e.g. the SFTP host key), then saved. The panel's
 * outbound guard gets loopback allowlisted by the admin setting, as an admin would.
 */
async function addRemoteDestination(
  panel: Panel,
  kind: RemoteKind,
  name: string,
  form: Record<string, string>,
): Promise<void> {
  const config = loadConfig(panel.env)
  const db = openDb(config.dbPath)
  try {
    const allow = (await getAdminSettings(db)).outboundAllow
    if (!allow.includes('127.0.0.1'))
      await setAdminSetting(db, 'outboundAllow', [...allow, '127.0.0.1'])
    const tenant = await findTenantByName(db, 'bench')
    if (!tenant) throw new Error('the bench tenant is missing')
    // Defaults as the form (and `panel destination add`) pre-fills them.
    const raw: Record<string, string> = {}
    const spec: Spec = drivers[kind.type].settings
    for (const f of spec) {
      if (f.default !== undefined && f.type !== 'checkbox') raw[f.name] = String(f.default)
    }
    Object.assign(raw, form)
    const deps = { db, secretKey: config.secretKey, drivers, localRoot: config.localRoot }
    const test = await testConnection(deps, tenant, kind.type, raw, null)
    if (!test.ok) {
      const fields = Object.entries(test.errors ?? {}).map(([k, v]) => ` ${k}: ${v}`)
      throw new Error(`Test connection failed: ${test.message}${fields.join(';')}`)
    }
    const dest = await saveDestination(deps, tenant.id, kind.type, null, { name, settings: raw })
    await mergeDestination(deps, tenant.id, dest.id, { settings: test.pinned })
  } finally {
    db.$client.close()
  }
}

async function addPolicyFor(panel: Panel, dest: string, policy: string): Promise<void> {
  const args = ['policy', 'add', 'bench', '--name', policy, '--destination', dest]
  const m = await panel.cli([...args, '--schedule', '0 3 * * *'], { timeoutMs: 60_000 })
  if (m.code !== 0) throw new Error(failure(m, 'panel policy add'))
}

/**
 * Round `n` for one remote type: its server started fresh, a destination and policy of its
 * own, then the panel's first backup of the bench home and a no-change backup, each timed as
 * the Local cases are (`panel backup --wait`, the real engine and runner). The server is
 * stopped and its data removed afterwards, so rounds and types do not share anything.
 */
export async function runRemote(
  b: { panel: Panel; panelProblem: string | null; timeoutMs: number; log: (m: string) => void },
  kind: RemoteKind,
  n: number,
): Promise<RemoteResult> {
  const { panel, log } = b
  const dest = n === 1 ? kind.name : `${kind.name}-${n}`
  const policy = `Bench-${dest}`
  const result: RemoteResult = { kind, first: { cell: null }, same: { cell: null } }
  const failAll = (why: string) => {
    result.first.cell = { error: why }
    result.same.cell = { error: why }
    return result
  }
  if (b.panelProblem) return failAll(b.panelProblem)

  const backup = async (label: string): Promise<RemoteCase> => {
    log(`round ${n}, ${kind.name} ${label}: panel backup bench --policy ${policy}`)
    settle()
    const m = await panel.cli(['backup', 'bench', '--policy', policy, '--wait', '--json'], {
      timeoutMs: b.timeoutMs,
    })
    const cell = m.code === 0 ? { ms: m.ms } : { error: failure(m, `panel backup (${kind.name})`) }
    return { cell, run: { m, timing: timing(panel, m.started, log) } }
  }

  let server: RemoteServer | undefined
  try {
    try {
      log(`round ${n}, ${kind.name}: starting ${kind.server}`)
      server = await kind.start()
      Object.assign(panel.env, server.env)
      Object.assign(process.env, server.env) // Test connection runs in this process
      await addRemoteDestination(panel, kind, dest, server.settings(`bench-${n}`))
      await addPolicyFor(panel, dest, policy)
    } catch (err) {
      if (err instanceof Interrupted) throw err
      return failAll(`${kind.name} setup failed: ${message(err)}`)
    }
    result.first = await backup('first backup')
    result.same = ok(result.first.cell)
      ? await backup('no-change backup')
      : { cell: { error: `skipped: the ${kind.name} first backup failed` } }
    return result
  } finally {
    // Also on interrupt: sshd's server removes its system user only when stopped.
    for (const key of Object.keys(server?.env ?? {})) {
      delete panel.env[key]
      delete process.env[key]
    }
    await server?.stop().catch((err) => log(`stopping ${kind.server}: ${message(err)}`))
  }
}

/** The newest run's timing if this command queued it (at or after `since`), else null. */
function timing(panel: Panel, since: number, log: (msg: string) => void) {
  try {
    const t = lastRunTiming(panel)
    return t && t.queuedAt >= since ? t : null
  } catch (err) {
    log(`could not read the run's stages: ${message(err)}`)
    return null
  }
}

/**
 * Round `n` for every remote type, one server at a time (so no idle server competes for the
 * CPU); a type whose server is not available here is marked skipped with the reason.
 */
export async function runRemotes(
  b: Parameters<typeof runRemote>[0],
  availability: Map<RemoteKind, string | null>,
  n: number,
): Promise<RemoteResult[]> {
  const out: RemoteResult[] = []
  for (const [kind, missing] of availability) {
    out.push(
      missing
        ? { kind, first: { cell: null }, same: { cell: null }, skipped: missing }
        : await runRemote(b, kind, n),
    )
  }
  return out
}
