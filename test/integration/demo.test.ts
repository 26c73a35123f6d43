import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { CronExpressionParser } from 'cron-parser'
import { and, eq } from 'drizzle-orm'
import { Client, PASSWORD, freshDeps } from '../helpers.ts'
import { rootAvailable, waitJob } from '../support/tenants.ts'
import { requireMariaDb, startMariaDb, type MariaDbServer } from '../services/mariadb.ts'
import { freePort } from '../services/process.ts'
import { seedDemo } from '../../src/setup.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { findTenantByName, listTenantDatabases } from '../../src/db/tenants.ts'
import { catalogOf } from '../../src/db/snapshots.ts'
import { jobs, tenantHealth } from '../../src/db/schema.ts'
import { lookupUser } from '../../src/engine/host/isolation.ts'
import { saveProviderDestination } from '../../src/domain/provider-destinations.ts'
import { newProviderPolicyInput, saveProviderPolicy } from '../../src/domain/provider-policies.ts'
import { serverZone } from '../../src/zoned.ts'
import { tickScheduler } from '../../src/runner/scheduler.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'

const MINUTE = 60_000
const NAMES = ['demo-alice', 'demo-bob']
const USERS = NAMES.map((n) => `panel-${n}`)

describe.runIf(rootAvailable() && requireMariaDb())('PANEL_DEMO=1 backs up for real', () => {
  const deps = freshDeps()
  const lines: string[] = []
  const hadUsers = USERS.filter((u) => lookupUser(u))
  let maria: MariaDbServer
  let runner: Runner | undefined

  beforeAll(async () => {
    maria = await startMariaDb()
    await seedDemo(deps.db, deps.config, { mariadb: maria.admin, log: (l) => lines.push(l) })
  }, 60_000)

  afterAll(async () => {
    await runner?.stop()
    await maria?.stop()
    for (const user of USERS.filter((u) => !hadUsers.includes(u))) {
      try {
        execFileSync('userdel', [user])
      } catch {
        // never created
      }
    }
  })

  it('gives each demo tenant its own system user, owning its home, and a database', async () => {
    expect(lines).toEqual([])
    for (const name of NAMES) {
      const tenant = (await findTenantByName(deps.db, name))!
      expect(tenant.systemUser).toBe(`panel-${name}`)
      const ids = lookupUser(tenant.systemUser!)!
      expect(ids.uid).toBeGreaterThan(0)
      expect(statSync(join(tenant.homeDir, 'public_html/index.html')).uid).toBe(ids.uid)
      const [database, ...rest] = await listTenantDatabases(deps.db, tenant.id)
      expect(rest).toEqual([])
      expect(database).toMatchObject({ name: `${name.replace('-', '_')}_shop`, port: maria.port })
      expect(await maria.sql('SELECT COUNT(*) FROM orders', database!.name)).toBe('2\n')
    }
  })

  it('backs every demo tenant up after one window of a provider policy, no tenant action', async () => {
    await insertAdmin(deps.db, 'root-admin', await hashPassword(PASSWORD))
    const host = await saveProviderDestination(
      { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
      'local',
      null,
      { name: 'Host disk', settings: { folder: 'nightly' } },
    )
    await saveProviderPolicy(deps.db, null, {
      ...newProviderPolicyInput(),
      destinationIds: [host.id],
    })

    // The scheduler ticks every 30 s in `panel serve`; here once a minute through the next
    // 01:00-05:00 window (server zone), so every slot is seen on time and none counts as missed.
    const start = CronExpressionParser.parse('0 1 * * *', { tz: serverZone() }).next().getTime()
    let enqueued = 0
    for (let t = start - MINUTE; t <= start + 4 * 60 * MINUTE + 10 * MINUTE; t += MINUTE) {
      enqueued += (await tickScheduler(deps.db, new Date(t))).enqueued
    }
    expect(enqueued).toBe(NAMES.length)
    const queued = await deps.db.select().from(jobs).where(eq(jobs.status, 'queued'))
    expect(queued.map((j) => j.kind)).toEqual(['backup', 'backup'])
    for (const job of queued) {
      expect(job.runAt.getTime()).toBeGreaterThanOrEqual(start)
      expect(job.runAt.getTime()).toBeLessThan(start + 4 * 60 * MINUTE)
    }
    // The window lies ahead of the wall clock, and the runner claims by the wall clock (its
    // claim has no clock to inject): move the jobs the window queued to now, nothing else.
    await deps.db
      .update(jobs)
      .set({ runAt: new Date() })
      .where(and(eq(jobs.status, 'queued'), eq(jobs.kind, 'backup')))
    runner = startRunner({ db: deps.db, handlers: jobHandlers(deps), pollMs: 100 })
    for (const job of queued) {
      const done = await waitJob(deps, job.tenantId, job.id, 120_000)
      expect(done.lastError).toBeNull()
      expect(done.status).toBe('done')
    }

    for (const name of NAMES) {
      const tenant = (await findTenantByName(deps.db, name))!
      const health = (
        await deps.db.select().from(tenantHealth).where(eq(tenantHealth.tenantId, tenant.id))
      )[0]!
      expect(health).toMatchObject({ lastRunStatus: 'success', failingStreak: 0, missedCount: 0 })
      expect(health.lastSuccessAt).not.toBeNull()
      const [snapshot] = await catalogOf(deps.db, tenant.id)
      expect(snapshot).toMatchObject({ kind: 'policy', complete: true })
      expect(snapshot!.databases).toEqual([`mariadb-${name.replace('-', '_')}_shop`])
    }
    const admin = new Client(deps)
    await admin.login('root-admin')
    const page = await admin.get('/admin/tenants')
    expect(page.status).toBe(200)
    for (const name of NAMES) expect(page.body).toContain(name)
    expect(page.body).not.toContain('badge-warn">Never backed up')
    expect(page.body.match(/badge-ok">OK</g)).toHaveLength(NAMES.length)
  }, 240_000)

  it('skips the database in one plain line when MariaDB cannot be reached', async () => {
    const other = freshDeps()
    const port = await freePort()
    const mariadb = { ...maria.admin, port }
    const out: string[] = []
    const made = await seedDemo(other.db, other.config, { mariadb, log: (l) => out.push(l) })
    expect(made.map((t) => t.name)).toEqual(NAMES)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatch(/^Demo tenants get no database: MariaDB could not create one \(.+\)\.$/)
    for (const name of NAMES) {
      const tenant = (await findTenantByName(other.db, name))!
      expect(tenant.systemUser).toBe(`panel-${name}`)
      expect(await listTenantDatabases(other.db, tenant.id)).toEqual([])
    }
  })
})
