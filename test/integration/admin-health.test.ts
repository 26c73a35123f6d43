import { describe, expect, it } from 'vitest'
import { hashPassword } from '../../src/auth/password.ts'
import { refreshTenantHealth } from '../../src/db/health.ts'
import { createRun, finishRun, finishStage, logRun, startStage } from '../../src/db/runs.ts'
import { runs, tenants } from '../../src/db/schema.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { saveDestination } from '../../src/domain/destinations.ts'
import { newPolicyInput, savePolicy } from '../../src/domain/policies.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'

const HOUR = 3600_000
const deps = freshDeps()
const { db } = deps
const now = Date.now()

// 120 tenants h001..h120: the first 60 fail (streak 1-5, last success i + ½ hours ago, so
// h048..h060 are stale too), every fourth of the rest last succeeded 3 days ago (stale),
// the others within 40 hours, and h120 never ran.
const fleet: { id: number; name: string; streak: number; lastSuccess: number | null }[] = []
for (let i = 1; i <= 120; i++) {
  const name = `h${String(i).padStart(3, '0')}`
  const { id } = (
    await db
      .insert(tenants)
      .values({ name, homeDir: `/home/${name}` })
      .returning()
  )[0]
  const failing = i <= 60
  const stale = !failing && i % 4 === 0
  const lastSuccess =
    i === 120
      ? null
      : stale
        ? now - 72 * HOUR
        : failing
          ? now - (i + 0.5) * HOUR
          : now - (i % 40) * HOUR
  const streak = failing ? (i % 5) + 1 : 0
  const row = (status: 'success' | 'failed', at: number, error: string | null = null) => ({
    tenantId: id,
    kind: 'backup' as const,
    trigger: 'schedule' as const,
    status,
    error,
    startedAt: new Date(at),
    finishedAt: new Date(at),
  })
  if (lastSuccess !== null) await db.insert(runs).values(row('success', lastSuccess))
  for (let k = 0; k < streak; k++)
    await db
      .insert(runs)
      .values(
        row('failed', now - k * 60_000, `${name}: the destination is out of space (disk full).`),
      )
  await refreshTenantHealth(db, id)
  fleet.push({ id, name, streak, lastSuccess })
}

const rowsOf = (body: string) =>
  [...body.matchAll(/<a class="strong" href="\/admin\/tenants\/(\d+)\/runs">([^<]+)<\/a>/g)].map(
    (m) => m[2]!,
  )
const hrefs = (body: string) =>
  [...body.matchAll(/href="(\/admin\/tenants\?[^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'))

describe('Admin > Tenants health', async () => {
  await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
  const admin = new Client(deps)
  await admin.login('boss')
  const alice = await addTenant(deps, 'alice')
  const tenantClient = new Client(deps)
  await tenantClient.login('alice')

  it('lists every tenant by name, 50 per page, and clamps a page past the end', async () => {
    const all = [...fleet.map((t) => t.name), 'alice'].sort()
    const p1 = await admin.get('/admin/tenants')
    expect(p1.status).toBe(200)
    expect(rowsOf(p1.body)).toEqual(all.slice(0, 50))
    expect(p1.body).toContain('1–50 of 121')
    expect(rowsOf((await admin.get('/admin/tenants?page=2')).body)).toEqual(all.slice(50, 100))
    const last = await admin.get('/admin/tenants?page=99')
    expect(rowsOf(last.body)).toEqual(all.slice(100))
    expect(last.body).toContain('page 3 of 3')
  })

  it('filters to failing tenants, each with a red badge and its reason in plain words', async () => {
    const res = await admin.get('/admin/tenants?filter=failing')
    const names = rowsOf(res.body)
    expect(names).toHaveLength(50)
    expect(res.body).toContain('1–50 of 60')
    expect(names.every((n) => fleet.find((t) => t.name === n)!.streak > 0)).toBe(true)
    expect(res.body).toContain('badge badge-bad')
    expect(res.body).toContain('h007: the destination is out of space (disk full).')
    expect(rowsOf((await admin.get('/admin/tenants?filter=failing&page=2')).body)).toHaveLength(10)
  })

  it('sorts by failing streak and by last success, both ways, across pages', async () => {
    const failing = fleet.filter((t) => t.streak > 0)
    const byStreakDesc = [...failing]
      .sort((a, b) => b.streak - a.streak || b.id - a.id)
      .map((t) => t.name)
    const get = async (qs: string) => rowsOf((await admin.get(`/admin/tenants?${qs}`)).body)
    const pages = [
      ...(await get('filter=failing&sort=streak&dir=desc')),
      ...(await get('filter=failing&sort=streak&dir=desc&page=2')),
    ]
    expect(pages).toEqual(byStreakDesc)
    const asc = [
      ...(await get('filter=failing&sort=streak&dir=asc')),
      ...(await get('filter=failing&sort=streak&dir=asc&page=2')),
    ]
    expect(asc).toEqual([...byStreakDesc].reverse())
    // Newest success first: h001 succeeded an hour ago, h060 sixty hours ago.
    const recent = await get('filter=failing&sort=last-success&dir=desc&page=2')
    expect(recent).toEqual(failing.slice(50).map((t) => t.name))
    expect((await get('filter=failing&sort=last-success&dir=asc'))[0]).toBe('h060')
  })

  it('filters stale, never backed up, disabled and by name', async () => {
    const stale = rowsOf((await admin.get('/admin/tenants?filter=stale&page=1')).body)
    // Stale: over 48 h since a good backup.
    const expected = fleet
      .filter((t) => t.lastSuccess !== null && now - t.lastSuccess > 48 * HOUR)
      .map((t) => t.name)
      .sort()
    expect(stale).toEqual(expected)
    expect(stale).toHaveLength(13 + 14) // h048..h060, and h064, h068 … h116
    expect(rowsOf((await admin.get('/admin/tenants?filter=never')).body).sort()).toEqual([
      'alice',
      'h120',
    ])
    expect(rowsOf((await admin.get('/admin/tenants?filter=disabled')).body)).toEqual([])
    expect(rowsOf((await admin.get('/admin/tenants?q=H11')).body)).toEqual([
      'h110',
      'h111',
      'h112',
      'h113',
      'h114',
      'h115',
      'h116',
      'h117',
      'h118',
      'h119',
    ])
    const none = await admin.get('/admin/tenants?q=%25')
    expect(rowsOf(none.body)).toEqual([]) // a literal %, not a wildcard
    expect(none.body).toContain('No tenants match')
  })

  it('keeps filter, sort and search in every link, and answers htmx with the table alone', async () => {
    const res = await admin.get('/admin/tenants?filter=failing&sort=last-success&dir=desc&q=h0')
    const links = hrefs(res.body)
    expect(links).toContain('/admin/tenants?filter=failing&q=h0&sort=last-success&dir=desc&page=2')
    expect(links).toContain('/admin/tenants?filter=stale&q=h0&sort=last-success&dir=desc')
    expect(links).toContain('/admin/tenants?filter=failing&q=h0&sort=last-success') // the active column flips to asc
    const frag = await admin.get('/admin/tenants?filter=failing', { 'hx-request': 'true' })
    expect(frag.body).not.toContain('<html')
    expect(frag.body).toMatch(/^<section id="tenant-health"/)
    expect(rowsOf(frag.body)).toHaveLength(50)
  })

  it('ignores unknown filter, sort, direction and page values', async () => {
    const res = await admin.get('/admin/tenants?filter=evil&sort=name%3Bdrop&dir=sideways&page=-4')
    expect(res.status).toBe(200)
    expect(rowsOf(res.body)[0]).toBe('alice')
  })

  it('drills into a tenant: runs paginated, a failing run with stages and logs, nothing secret', async () => {
    const dest = await saveDestination(
      { ...deps, secretKey: deps.config.secretKey },
      alice.id,
      'local',
      null,
      { name: 'Disk', settings: { folder: 'private-folder-name' } },
    )
    const policyId = await savePolicy(db, alice.id, null, {
      ...newPolicyInput('UTC'),
      name: 'Nightly',
      destinationIds: [dest.id],
    })
    for (let i = 0; i < 55; i++) {
      const r = await createRun(db, alice.id, {
        kind: 'backup',
        trigger: 'schedule',
        jobId: null,
        policyId,
      })
      await finishRun(db, r.id, 'success', { bytes: 100 })
    }
    const bad = await createRun(db, alice.id, {
      kind: 'backup',
      trigger: 'manual',
      jobId: null,
      policyId,
    })
    const stage = await startStage(db, bad.id, 'snapshot', dest.id)
    await finishStage(db, stage.id, 'failed', {
      message: 'The destination is out of space (disk full).',
    })
    await logRun(db, bad.id, 'error', 'Disk: The destination is out of space (disk full).')
    await finishRun(db, bad.id, 'failed', {
      error: 'Disk: The destination is out of space (disk full).',
    })

    const list = await admin.get(`/admin/tenants/${alice.id}/runs`)
    expect(list.status).toBe(200)
    expect(list.body).toContain(`href="/admin/tenants/${alice.id}/runs/${bad.id}"`)
    expect(list.body).toContain('56 run(s) · page 1 of 2')
    expect(list.body).toContain('Failing ×1')
    const older = await admin.get(`/admin/tenants/${alice.id}/runs?page=2`)
    expect((older.body.match(/href="\/admin\/tenants\/\d+\/runs\/\d+"/g) ?? []).length).toBe(6)

    const page = await admin.get(`/admin/tenants/${alice.id}/runs/${bad.id}`)
    expect(page.status).toBe(200)
    expect(page.body).toContain('The destination is out of space (disk full).')
    expect(page.body).toContain('<td class="strong">Backup</td>')
    expect(page.body).toContain('Disk')
    expect(page.body).not.toContain('private-folder-name')
    expect(list.body).not.toContain('private-folder-name')
    // Another tenant's run under alice's address, and an unknown tenant: 404.
    const other = fleet[0]!
    const otherRun = (
      await db
        .insert(runs)
        .values({ tenantId: other.id, kind: 'backup', trigger: 'manual', status: 'failed' })
        .returning()
    )[0]
    expect((await admin.get(`/admin/tenants/${alice.id}/runs/${otherRun.id}`)).status).toBe(404)
    expect((await admin.get('/admin/tenants/999999/runs')).status).toBe(404)
  })

  it('is closed to tenants (404) and to visitors (sign in first)', async () => {
    for (const path of [
      '/admin/tenants',
      '/admin/tenants?filter=failing',
      `/admin/tenants/${alice.id}/runs`,
      `/admin/tenants/${fleet[0]!.id}/runs/1`,
    ]) {
      const res = await tenantClient.get(path)
      expect(res.status, path).toBe(404)
      expect(res.body).not.toContain('h001')
      const anon = await new Client(deps).get(path)
      expect(anon.status, path).toBe(302)
      expect(anon.location).toMatch(/^\/login\?next=/)
    }
  })
})
