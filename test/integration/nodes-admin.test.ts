import { beforeAll, describe, expect, it } from 'vitest'
import { eq, inArray } from 'drizzle-orm'
import { hashPassword } from '../../src/auth/password.ts'
import { claimJob, enqueue } from '../../src/db/jobs.ts'
import { saveHeartbeat } from '../../src/db/runner-heartbeats.ts'
import { tenants } from '../../src/db/schema.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { Client, PASSWORD, addTenant, freshDeps } from '../helpers.ts'

const MIN = 60_000

/** The cells of each body row in `html`, as text an admin reads. */
function tableRows(html: string): string[][] {
  return [...html.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)]
    .filter((m) => m[1]!.includes('<td'))
    .map((m) =>
      [...m[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) =>
        c[1]!
          .replace(/<[^>]+>/g, ' ')
          .replace(/\s+/g, ' ')
          .trim(),
      ),
    )
}

/** The part of the Runner page from `title` to the next section title. */
function section(page: string, title: string): string {
  const start = page.indexOf(`<h2 class="section-title">${title}`)
  if (start < 0) return ''
  const end = page.indexOf('<h2 class="section-title">', start + 1)
  return page.slice(start, end < 0 ? undefined : end)
}

/** The health-list row of tenant `name`. */
function healthRow(page: string, name: string): string {
  const rows = [...page.matchAll(/<tr[^>]*>[\s\S]*?<\/tr>/g)].map((m) => m[0])
  return rows.find((r) => r.includes(`/runs">${name}</a>`)) ?? ''
}

async function beat(
  deps: ReturnType<typeof freshDeps>,
  id: string,
  node: string | null,
  ago: number,
) {
  const now = Date.now()
  await saveHeartbeat(deps.db, {
    id,
    host: id.split(':')[0]!,
    pid: Number(id.split(':')[1]),
    concurrency: 2,
    node,
    startedAt: new Date(now - 60 * MIN),
    lastSeen: new Date(now - ago),
  })
}

// Setup runs in beforeAll: with PANEL_TEST_DB=postgres the database exists only from then on.
describe('Admin pages on a single-server panel', () => {
  const deps = freshDeps()
  const admin = new Client(deps)
  beforeAll(async () => {
    await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
    await addTenant(deps, 'alice')
    await beat(deps, 'panel-host:100:a', null, 0)
    await admin.login('boss')
  })

  it('shows no Nodes section, and the runner on this server', async () => {
    const page = (await admin.get('/admin/runner')).body
    expect(page).not.toContain('<h2 class="section-title">Nodes')
    expect(page).not.toContain('Runner answering')
    const [row, ...more] = tableRows(section(page, 'Runner processes'))
    expect(more).toEqual([])
    // Host, Node, Process, (Last seen), Running, Jobs at once.
    expect([0, 1, 2, 4, 5].map((i) => row![i])).toEqual([
      'panel-host',
      'This server',
      'pid 100',
      '0',
      '2',
    ])
  })

  it('raises no runner alarm in the health list', async () => {
    const page = (await admin.get('/admin/tenants')).body
    expect(page).not.toContain('No runner')
    expect(healthRow(page, 'alice')).not.toContain('Node ')
  })
})

describe('Admin pages with several hosting nodes', () => {
  const deps = freshDeps()
  const admin = new Client(deps)
  beforeAll(async () => {
    const { db } = deps
    await insertAdmin(db, 'boss', await hashPassword(PASSWORD))
    // alice on the panel's own server; bob on web1 (no runner ever); carol on web2 (its runner
    // went silent 10 minutes ago); dave and erin on web3 (runner answering). web4 has a runner
    // and no tenant.
    await addTenant(deps, 'alice')
    const bob = await addTenant(deps, 'bob')
    const carol = await addTenant(deps, 'carol')
    const dave = await addTenant(deps, 'dave')
    const erin = await addTenant(deps, 'erin')
    await db.update(tenants).set({ node: 'web1' }).where(eq(tenants.id, bob.id))
    await db.update(tenants).set({ node: 'web2' }).where(eq(tenants.id, carol.id))
    await db
      .update(tenants)
      .set({ node: 'web3' })
      .where(inArray(tenants.id, [dave.id, erin.id]))
    await beat(deps, 'panel-host:100:a', null, 0)
    await beat(deps, 'web2-host:200:b', 'web2', 10 * MIN)
    await beat(deps, 'web3-host:300:c', 'web3', 0)
    await beat(deps, 'web4-host:400:d', 'web4', 0)
    // web3's runner is running dave's backup.
    await enqueue(db, {
      kind: 'backup',
      tenantId: dave.id,
      payload: { policyId: 0, trigger: 'cli' },
    })
    const claimed = await claimJob(db, 'web3-host:300:c', 60_000, new Date(), undefined, 'web3')
    expect(claimed?.tenantId).toBe(dave.id)
    await admin.login('boss')
  })

  it('lists every node with its tenants, answering runners and status in plain words', async () => {
    const page = (await admin.get('/admin/runner')).body
    const nodes = section(page, 'Nodes')
    expect(nodes).toContain('Nodes (5)')
    expect(page.indexOf('Nodes (5)')).toBeLessThan(page.indexOf('Runner processes ('))
    expect(tableRows(nodes)).toEqual([
      ['This server', '1', '1', 'Runner answering'],
      [
        'web1',
        '1',
        '0',
        'No runner No runner has started on this node: its tenants’ backups wait until panel runner --node web1 runs there.',
      ],
      [
        'web2',
        '1',
        '0',
        'Not answering The runner stopped answering 10 min ago: its tenants’ backups wait until it is back.',
      ],
      ['web3', '2', '1', 'Runner answering'],
      ['web4', '0', '1', 'Runner answering'],
    ])
    expect(nodes).toContain('<span class="badge badge-bad">No runner</span>')
    expect(nodes).toContain('<span class="badge badge-bad">Not answering</span>')
    expect(nodes).toContain('<span class="badge badge-ok">Runner answering</span>')
    expect(nodes).toContain('<code class="nowrap">panel runner --node web1</code>')
    expect(nodes).toContain('<span class="muted">This server</span>')
  })

  it('shows each runner process with its node and how many jobs it runs now', async () => {
    const page = (await admin.get('/admin/runner')).body
    const rows = tableRows(section(page, 'Runner processes'))
    // Host, Node, Process, Running.
    expect(rows.map((r) => [0, 1, 2, 4].map((i) => r[i]))).toEqual([
      ['panel-host', 'This server', 'pid 100', '0'],
      ['web2-host', 'web2', 'pid 200', '0'],
      ['web3-host', 'web3', 'pid 300', '1'],
      ['web4-host', 'web4', 'pid 400', '0'],
    ])
    expect(rows.map((r) => r[3]!.endsWith('Not answering'))).toEqual([false, true, false, false])
    expect(rows[1]![3]).toBe('10 min ago Not answering')
    expect(section(page, 'Runner processes')).toContain('<th>Node</th>')
    expect(section(page, 'Runner processes')).toContain('<th>Running</th>')
  })

  it('marks tenants on a node without an answering runner in the health list', async () => {
    for (const htmx of [false, true]) {
      const page = (await admin.get('/admin/tenants', htmx ? { 'hx-request': 'true' } : {})).body
      expect(page.includes('<html')).toBe(!htmx)
      const bobRow = healthRow(page, 'bob')
      expect(bobRow).toMatch(/^<tr class="row-bad">/)
      expect(bobRow).toContain('<span class="badge badge-bad">No runner</span>')
      expect(bobRow).toContain(
        '<p class="reason">No runner is answering on node web1: backups of this tenant are not running.</p>',
      )
      expect(bobRow).toContain('Node web1')
      // Every other badge stays: bob never backed up.
      expect(bobRow).toContain('<span class="badge badge-warn">Never backed up</span>')
      expect(healthRow(page, 'carol')).toContain(
        'No runner is answering on node web2: backups of this tenant are not running.',
      )
      for (const name of ['alice', 'dave', 'erin']) {
        expect(healthRow(page, name)).not.toContain('No runner')
        expect(healthRow(page, name)).not.toMatch(/^<tr class="row-bad">/)
      }
      expect(healthRow(page, 'dave')).toContain('Node web3')
      expect(healthRow(page, 'alice')).not.toContain('Node ')
    }
  })

  it('says "on this server" once the panel’s own runner stops answering', async () => {
    await beat(deps, 'panel-host:100:a', null, 10 * MIN)
    const page = (await admin.get('/admin/tenants')).body
    expect(healthRow(page, 'alice')).toContain(
      '<p class="reason">No runner is answering on this server: backups of this tenant are not running.</p>',
    )
    expect(healthRow(page, 'dave')).not.toContain('No runner')
    const runner = (await admin.get('/admin/runner')).body
    expect(tableRows(section(runner, 'Nodes'))[0]).toEqual([
      'This server',
      '1',
      '0',
      'Not answering The runner stopped answering 10 min ago: its tenants’ backups wait until it is back.',
    ])
  })
})

describe('Admin pages before any runner has started', () => {
  const deps = freshDeps()
  const admin = new Client(deps)
  beforeAll(async () => {
    await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
    await addTenant(deps, 'alice')
    const bob = await addTenant(deps, 'bob')
    await deps.db.update(tenants).set({ node: 'web1' }).where(eq(tenants.id, bob.id))
    await admin.login('boss')
  })

  it('says no runner has started on this server nor on web1', async () => {
    const page = (await admin.get('/admin/runner')).body
    expect(tableRows(section(page, 'Nodes'))).toEqual([
      [
        'This server',
        '1',
        '0',
        'No runner No runner has started on this server: its tenants’ backups wait until panel serve or panel runner runs here.',
      ],
      [
        'web1',
        '1',
        '0',
        'No runner No runner has started on this node: its tenants’ backups wait until panel runner --node web1 runs there.',
      ],
    ])
  })

  it('marks only the tenant on the named node in the health list', async () => {
    // A panel with no runner row yet (a fresh start) raises nothing for its own server.
    const page = (await admin.get('/admin/tenants')).body
    expect(healthRow(page, 'bob')).toContain('No runner is answering on node web1')
    expect(healthRow(page, 'alice')).not.toContain('No runner')
  })
})

describe('a tenant on another node, seen from the panel', () => {
  const deps = freshDeps()
  const admin = new Client(deps)
  let onWeb1 = 0
  let here = 0
  beforeAll(async () => {
    await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
    await admin.login('boss')
    onWeb1 = (await addTenant(deps, 'faraway')).id
    here = (await addTenant(deps, 'nearby')).id
    await deps.db.update(tenants).set({ node: 'web1' }).where(eq(tenants.id, onWeb1))
  })

  it("does not check the home on this server: it lives on the tenant's node", async () => {
    // Neither /home/faraway nor /home/nearby exists on this machine.
    const far = (await admin.get(`/admin/tenants/${onWeb1}`)).body
    expect(far).toContain('On node web1.')
    expect(far).not.toContain('does not exist on this server')
    const near = (await admin.get(`/admin/tenants/${here}`)).body
    expect(near).toContain('The home folder /home/nearby does not exist on this server')
  })
})
