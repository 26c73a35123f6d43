import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { hashPassword } from '../../src/auth/password.ts'
import { jobs, repositories, runs, tenantHealth, tenants, type Run } from '../../src/db/schema.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'

const TOKEN = 'scrape-token-0123456789abcdef'
const deps = freshDeps({ env: { PANEL_METRICS_TOKEN: TOKEN } })
const HOUR = 3600_000
const now = Date.now()

/** A tenant with a Local destination and, unless told otherwise, an enabled policy. */
async function tenant(name: string, opts: { policy?: boolean; disabled?: boolean } = {}) {
  const t = await addTenant(deps, name)
  const dest = await localDestination(deps, t.id)
  if (opts.policy !== false) await policy(deps, t.id, [dest.id])
  if (opts.disabled)
    await deps.db.update(tenants).set({ disabled: true }).where(eq(tenants.id, t.id))
  return { ...t, dest }
}

async function health(tenantId: number, lastSuccessAgoH: number | null, failingStreak = 0) {
  const lastSuccessAt = lastSuccessAgoH === null ? null : new Date(now - lastSuccessAgoH * HOUR)
  await deps.db
    .insert(tenantHealth)
    .values({ tenantId, lastSuccessAt, failingStreak })
    .onConflictDoUpdate({ target: tenantHealth.tenantId, set: { lastSuccessAt, failingStreak } })
}

/** A finished run that took `seconds` and ended `agoH` hours ago. */
async function run(
  tenantId: number,
  kind: Run['kind'],
  status: Run['status'],
  seconds: number,
  bytes: number | null = null,
  agoH = 1,
) {
  const finishedAt = status === 'running' ? null : new Date(now - agoH * HOUR)
  const startedAt = new Date(now - agoH * HOUR - seconds * 1000)
  return (
    await deps.db
      .insert(runs)
      .values({ tenantId, kind, trigger: 'schedule', status, bytes, startedAt, finishedAt })
      .returning()
  )[0]
}

async function job(tenantId: number, status: 'queued' | 'running' | 'done') {
  await deps.db
    .insert(jobs)
    .values({ tenantId, kind: 'backup', payload: {}, status, runAt: new Date(now) })
}

const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (NaN|[+-]Inf|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/
const COMMENT = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/

/** Parses the text format strictly: every line a HELP/TYPE comment or `name{labels} value`. */
function parse(text: string): Map<string, number> {
  expect(text.endsWith('\n')).toBe(true)
  const samples = new Map<string, number>()
  const typed = new Map<string, string>()
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = COMMENT.exec(line)
    if (comment) {
      if (comment[1] === 'TYPE') typed.set(comment[2]!, comment[3]!)
      continue
    }
    const sample = SAMPLE.exec(line)
    expect(sample, `line is neither a comment nor a sample: ${line}`).not.toBeNull()
    const family = sample![1]!.replace(/_(bucket|sum|count)$/, '')
    expect(
      typed.has(sample![1]!) || typed.get(family) === 'histogram',
      `no TYPE before ${line}`,
    ).toBe(true)
    samples.set(sample![1]! + (sample![2] ?? ''), Number(sample![3]))
  }
  return samples
}

const alice = await tenant('alice')
const bob = await tenant('bob')
const carol = await tenant('carol')
const dave = await tenant('dave')
const erin = await tenant('erin', { policy: false })
const frank = await tenant('frank', { disabled: true })
await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))

await health(alice.id, 3)
await health(bob.id, 50, 2) // the oldest good backup among tenants expected to back up, and failing
await health(dave.id, null) // has a policy, never backed up
await health(erin.id, 900) // no policy: not expected to back up
await health(frank.id, 800) // disabled: not expected to back up
// carol has no health row (as before its first refresh): her newest successful run (10 h ago) stands in.
await deps.db.delete(tenantHealth).where(eq(tenantHealth.tenantId, carol.id))

await run(alice.id, 'backup', 'success', 5, 100)
await run(alice.id, 'backup', 'success', 20, 200)
await run(alice.id, 'backup', 'success', 4000, 300)
await run(alice.id, 'backup', 'failed', 45)
await run(alice.id, 'backup', 'failed', 700)
await run(alice.id, 'backup', 'partial', 100, 50)
await run(alice.id, 'restore', 'success', 30)
await run(alice.id, 'verify', 'failed', 2)
const live = await run(alice.id, 'backup', 'running', 0)
await run(carol.id, 'backup', 'success', 60, 1000, 10)
await job(alice.id, 'queued')
await job(bob.id, 'queued')
await job(carol.id, 'running')
await job(dave.id, 'done')
await deps.db.insert(repositories).values({
  tenantId: alice.id,
  destinationId: alice.dest.id,
  passwordSealed: 'x',
  storedBytes: 12_345,
})
await deps.db
  .insert(repositories)
  .values({ tenantId: bob.id, destinationId: bob.dest.id, passwordSealed: 'x', storedBytes: 55 })

describe('/metrics', () => {
  const admin = new Client(deps)

  it('gives an admin the Prometheus text format with counts that match the runs', async () => {
    await admin.login('boss')
    const before = Date.now()
    const res = await admin.get('/metrics')
    const after = Date.now()
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const m = parse(res.body)
    expect(m.get('panel_runs_total{kind="backup",status="success"}')).toBe(4)
    expect(m.get('panel_runs_total{kind="backup",status="failed"}')).toBe(2)
    expect(m.get('panel_runs_total{kind="backup",status="partial"}')).toBe(1)
    expect(m.get('panel_runs_total{kind="backup",status="interrupted"}')).toBe(0)
    expect(m.get('panel_runs_total{kind="restore",status="success"}')).toBe(1)
    expect(m.get('panel_runs_total{kind="verify",status="failed"}')).toBe(1)
    expect(
      [...m.keys()].some((k) => k.includes('status="running"') && k.startsWith('panel_runs_total')),
    ).toBe(false)

    // Backup durations 5, 20, 4000, 45, 700, 100, 60 s; bounds are inclusive.
    const bucket = (le: string) =>
      m.get(`panel_run_duration_seconds_bucket{kind="backup",le="${le}"}`)
    expect(['10', '30', '60', '300', '900', '3600', '7200', '+Inf'].map(bucket)).toEqual([
      1, 2, 4, 5, 6, 6, 7, 7,
    ])
    expect(m.get('panel_run_duration_seconds_count{kind="backup"}')).toBe(7)
    expect(m.get('panel_run_duration_seconds_sum{kind="backup"}')).toBe(4930)
    expect(m.get('panel_run_duration_seconds_bucket{kind="restore",le="30"}')).toBe(1)

    expect(m.get('panel_backup_bytes_total')).toBe(1650)
    expect(m.get('panel_queue_depth{status="queued"}')).toBe(2)
    expect(m.get('panel_queue_depth{status="running"}')).toBe(1)
    const oldest = now - 50 * HOUR
    const age = m.get('panel_oldest_good_backup_age_seconds')!
    expect(age).toBeGreaterThanOrEqual(Math.floor((before - oldest) / 1000))
    expect(age).toBeLessThanOrEqual(Math.ceil((after - oldest) / 1000))
    expect(m.get('panel_tenants_never_backed_up')).toBe(1)
    expect(m.get('panel_tenants_failing')).toBe(1)
    expect(m.get('panel_stored_bytes')).toBe(12_400)
  })

  it('counts runs that finish and runs added after a scrape', async () => {
    await deps.db
      .update(runs)
      .set({ status: 'success', bytes: 7, finishedAt: new Date() })
      .where(eq(runs.id, live.id))
    await run(bob.id, 'backup', 'failed', 1)
    await run(bob.id, 'backup', 'running', 0)
    const m = parse((await admin.get('/metrics')).body)
    expect(m.get('panel_runs_total{kind="backup",status="success"}')).toBe(5)
    expect(m.get('panel_runs_total{kind="backup",status="failed"}')).toBe(3)
    expect(m.get('panel_backup_bytes_total')).toBe(1657)
    await run(bob.id, 'backup', 'interrupted', 3)
    const again = parse((await admin.get('/metrics')).body)
    expect(again.get('panel_runs_total{kind="backup",status="interrupted"}')).toBe(1)
    expect(again.get('panel_runs_total{kind="backup",status="success"}')).toBe(5)
  })

  it('refuses tenants and anonymous callers without showing any number', async () => {
    const tenant = new Client(deps)
    await tenant.login('alice')
    const asTenant = await tenant.get('/metrics')
    expect(asTenant.status).toBe(404)
    expect(asTenant.body).not.toContain('panel_')
    const anonymous = await new Client(deps).get('/metrics')
    expect(anonymous.status).toBe(401)
    expect(anonymous.body).not.toContain('panel_')
  })

  it('lets a scraper in with the bearer token and refuses a wrong one', async () => {
    const scraper = new Client(deps)
    const ok = await scraper.get('/metrics', { authorization: `Bearer ${TOKEN}` })
    expect(ok.status).toBe(200)
    expect(parse(ok.body).get('panel_queue_depth{status="queued"}')).toBe(2)
    for (const header of [
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      'Bearer ',
      TOKEN,
      `Basic ${TOKEN}`,
    ]) {
      const res = await scraper.get('/metrics', { authorization: header })
      expect(res.status, header).toBe(401)
      expect(res.body).not.toContain('panel_')
    }
    // A wrong token is refused even alongside an admin session.
    expect(
      (await admin.get('/metrics', { authorization: 'Bearer wrong-token-wrong-token' })).status,
    ).toBe(401)
  })

  it('accepts no bearer token at all when none is configured', async () => {
    const plain = freshDeps()
    const res = await new Client(plain).get('/metrics', { authorization: `Bearer ${TOKEN}` })
    expect(res.status).toBe(401)
    expect(res.body).not.toContain('panel_')
  })
})
