import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Client, PASSWORD, freshDeps } from '../helpers.ts'
import { realTenant, removeUsers, rootAvailable, waitJob } from '../support/tenants.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { listPolicies } from '../../src/db/policies.ts'
import { listDestinations } from '../../src/db/destinations.ts'
import { findRepository, repositoryPassword } from '../../src/db/repositories.ts'
import { catalogOf } from '../../src/db/snapshots.ts'
import { requestBackup } from '../../src/domain/jobs.ts'
import { saveProviderDestination } from '../../src/domain/provider-destinations.ts'
import { newProviderPolicyInput, saveProviderPolicy } from '../../src/domain/provider-policies.ts'
import { copySchedule, minuteOf, windowMinutes } from '../../src/domain/provider-sync.ts'
import { and, eq, inArray } from 'drizzle-orm'
import { jobs, tenantHealth } from '../../src/db/schema.ts'
import { startRunner, type Runner } from '../../src/runner/runner.ts'
import { jobHandlers } from '../../src/runner/handlers.ts'
import { createTenant, editTenant } from '../../src/domain/tenants.ts'

const S3_SECRET = 'host-secret-Wy7pQ2'
const S3_KEY_ID = 'AKIAHOSTONLY'

/** The first backup link of a destination on the tenant's Restore page. */
async function snapshotLink(client: Client, destId: number): Promise<string> {
  const page = await client.get('/backups/restore')
  const link = page.body.match(new RegExp(`href="(/backups/restore/${destId}/[0-9a-f]+)"`))?.[1]
  if (!link) throw new Error(`no backup of destination ${destId} on the Restore page`)
  return link
}

/**
 * A backup's browse page once its file list is read: the first visit queues the reading on the
 * runner and says so; the page is asked again until the tree is there, as its own poll does.
 */
async function browseWhenRead(client: Client, link: string) {
  for (let i = 0; ; i++) {
    const page = await client.get(link)
    if (!page.body.includes('Reading the list of files') || i === 100) return page
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe.runIf(rootAvailable())('provider backups: the host backs up every tenant', () => {
  const deps = freshDeps()
  const secretDeps = { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers }
  let runner: Runner
  let alice: Awaited<ReturnType<typeof realTenant>>
  let bob: Awaited<ReturnType<typeof realTenant>>
  let policyId = 0
  const a = new Client(deps)
  const b = new Client(deps)

  beforeAll(async () => {
    await insertAdmin(deps.db, 'root-admin', await hashPassword(PASSWORD))
    // Alice exists before the host's policy, bob only after it: both must be covered.
    alice = await realTenant(deps, 'alice', { 'site/index.html': 'alice v1\n' })
    const host = await saveProviderDestination(secretDeps, 'local', null, {
      name: 'Host disk',
      settings: { folder: 'nightly' },
    })
    // Credentials the tenants must never see (used by a paused policy, added below).
    const s3 = await saveProviderDestination(secretDeps, 's3', null, {
      name: 'Host S3',
      settings: {
        bucket: 'host-bucket',
        accessKeyId: S3_KEY_ID,
        secretAccessKey: S3_SECRET,
        endpoint: '127.0.0.1:9',
        endpointProtocol: 'http',
        region: 'us-east-1',
        pathStyle: 'on',
        storageClass: 'STANDARD',
        partLimit: '10000',
      },
    })
    policyId = (
      await saveProviderPolicy(deps.db, null, {
        ...newProviderPolicyInput(),
        name: 'Nightly',
        destinationIds: [host.id],
      })
    ).id
    bob = await realTenant(deps, 'bob', { 'site/index.html': 'bob v1\n' })
    runner = startRunner({
      db: deps.db,
      handlers: jobHandlers(deps),
      pollMs: 100,
      onError: () => {},
    })
    for (const t of [alice, bob]) {
      const copy = (await listPolicies(deps.db, t.tenant.id)).find((p) => p.name === 'Nightly')!
      const { job } = await requestBackup(deps.db, t.tenant.id, copy.id, 'manual')
      runner.wake()
      expect((await waitJob(deps, t.tenant.id, job.id, 120_000)).status).toBe('done')
    }
    await saveProviderPolicy(deps.db, null, {
      ...newProviderPolicyInput(),
      name: 'Offsite',
      enabled: false,
      destinationIds: [s3.id],
    })
    await a.login('alice')
    await b.login('bob')
  }, 300_000)

  afterAll(async () => {
    await runner?.stop()
    removeUsers()
  })

  it('gives every tenant, old and new, a read-only copy of the policy in the window', async () => {
    for (const t of [alice, bob]) {
      const [copy, offsite, ...rest] = await listPolicies(deps.db, t.tenant.id)
      expect(rest).toHaveLength(0)
      expect(offsite).toMatchObject({ name: 'Offsite', enabled: false })
      expect(copy).toMatchObject({ name: 'Nightly', providerPolicyId: policyId, enabled: true })
      expect(copy!.destinations.map((d) => d.name)).toEqual(['Host disk'])
      const [m, h] = copy!.schedule.split(' ').map(Number)
      const offset = (h! * 60 + m! - minuteOf('01:00') + 1440) % 1440
      expect(offset).toBeLessThan(windowMinutes('01:00', '05:00'))
    }
  })

  it('spreads 1,000 tenants over the window instead of starting them together', () => {
    const p = { id: policyId, windowStart: '01:00', windowEnd: '05:00' }
    const perQuarter = new Map<number, number>()
    for (let t = 1; t <= 1000; t++) {
      const [m, h] = copySchedule(p as never, t)
        .split(' ')
        .map(Number)
      const q = Math.floor(((h! * 60 + m! - 60 + 1440) % 1440) / 15)
      perQuarter.set(q, (perQuarter.get(q) ?? 0) + 1)
    }
    // 230 usable minutes: about 65 tenants per quarter hour, none empty, none crowded.
    expect(perQuarter.size).toBe(16)
    expect(Math.max(...perQuarter.values())).toBeLessThan(110)
  })

  it('backs each tenant up into its own folder with its own password', async () => {
    const [ra, rb] = await Promise.all(
      [alice, bob].map(async (t) => {
        const dest = (await listDestinations(deps.db, t.tenant.id)).find(
          (d) => d.name === 'Host disk',
        )!
        const repo = (await findRepository(deps.db, t.tenant.id, dest.id))!
        expect((await catalogOf(deps.db, t.tenant.id, dest.id)).length).toBe(1)
        return {
          path: join(deps.config.localRoot, t.tenant.name, '_host', 'nightly'),
          password: repositoryPassword(deps.config.secretKey, repo),
        }
      }),
    )
    expect(existsSync(join(ra!.path, 'config'))).toBe(true)
    expect(existsSync(join(rb!.path, 'config'))).toBe(true)
    expect(ra!.password).not.toBe(rb!.password)
    const restic = (repo: string, password: string) =>
      spawnSync('restic', ['-r', repo, '--no-cache', 'snapshots', '--json'], {
        env: { ...process.env, RESTIC_PASSWORD: password },
        encoding: 'utf8',
      })
    expect(restic(ra!.path, ra!.password).status).toBe(0)
    // Alice's key does not open bob's repository on the shared destination.
    const cross = restic(rb!.path, ra!.password)
    expect(cross.status).not.toBe(0)
    expect(cross.stderr).toMatch(/wrong password|no key found/i)
  })

  it('shows the tenant the host’s backup, labelled, and never the host’s settings', async () => {
    for (const path of [
      '/backups',
      '/backups/policies',
      '/backups/destinations',
      '/backups/restore',
    ]) {
      const res = await a.get(path)
      expect(res.status, path).toBe(200)
      expect(res.body, path).toContain('Provided by your host')
      expect(res.body, path).not.toContain('nightly')
    }
    const pages = await a.get('/backups/destinations')
    expect(pages.body).toContain('Host S3')
    for (const path of ['/backups/destinations', '/backups/recovery', '/backups/policies/new']) {
      const res = await a.get(path)
      expect(res.body, path).not.toContain(S3_SECRET)
      expect(res.body, path).not.toContain(S3_KEY_ID)
      expect(res.body, path).not.toContain('host-bucket')
    }
  })

  it('lets the tenant restore and run it, but not edit, delete or reuse it', async () => {
    const copy = (await listPolicies(deps.db, alice.tenant.id)).find((p) => p.name === 'Nightly')!
    const dest = (await listDestinations(deps.db, alice.tenant.id)).find(
      (d) => d.name === 'Host disk',
    )!
    const browse = await browseWhenRead(a, await snapshotLink(a, dest.id))
    expect(browse.status).toBe(200)
    expect(browse.body).toContain('site')
    for (const path of [`/backups/policies/${copy.id}`, `/backups/destinations/${dest.id}`]) {
      const res = await a.get(path)
      expect(res.status, path).toBe(409)
      expect(res.body).toContain('provided by your host')
    }
    const edit = await a.post(`/backups/settings/${copy.id}`, { name: 'Mine now' })
    expect(edit.status).toBe(409)
    expect((await a.post(`/backups/settings/${copy.id}/delete`, { confirm: 'yes' })).status).toBe(
      409,
    )
    expect(
      (await a.post(`/backups/destinations/${dest.id}/delete`, { confirm: 'yes' })).status,
    ).toBe(409)
    expect((await a.post(`/backups/destinations/${dest.id}/test`, {})).status).toBe(409)
    expect((await listPolicies(deps.db, alice.tenant.id)).map((p) => p.name)).toEqual(
      ['Nightly', 'Offsite'].sort(),
    )
    // A policy of the tenant's own cannot send its backups to the host's storage.
    const own = await a.post('/backups/settings', {
      name: 'Mine',
      includeHome: 'on',
      destinations: String(dest.id),
      preset: 'daily',
      timezone: 'UTC',
      keepDaily: '7',
    })
    expect(own.status).toBe(422)
    expect(own.body).toContain('Choose destinations from the list.')
    const run = await a.post(`/backups/policies/${copy.id}/run`, {})
    expect(run.status).toBe(303)
  })

  it('answers 404 for another tenant’s provider snapshots', async () => {
    const dest = (await listDestinations(deps.db, bob.tenant.id)).find(
      (d) => d.name === 'Host disk',
    )!
    const link = await snapshotLink(b, dest.id)
    expect((await b.get(link)).status).toBe(200)
    expect((await a.get(link)).status).toBe(404)
    expect((await a.get(`${link}/download`)).status).toBe(404)
  })

  it('follows plans: a plan policy covers only that plan’s tenants, now and later', async () => {
    const host = (await listDestinations(deps.db, alice.tenant.id)).find(
      (d) => d.name === 'Host disk',
    )!.providerDestinationId!
    await saveProviderPolicy(deps.db, null, {
      ...newProviderPolicyInput(),
      name: 'Gold hourly-ish',
      scope: 'plan',
      plan: 'gold',
      windowStart: '12:00',
      windowEnd: '13:00',
      destinationIds: [host],
    })
    const names = async (id: number) => (await listPolicies(deps.db, id)).map((p) => p.name)
    expect(await names(alice.tenant.id)).toEqual(['Nightly', 'Offsite'])
    const input = {
      name: 'alice',
      password: '',
      homeDir: alice.home,
      systemUser: alice.user,
      timezone: 'UTC',
    }
    await editTenant(deps.db, alice.tenant.id, { ...input, plan: 'gold' })
    expect(await names(alice.tenant.id)).toEqual(['Gold hourly-ish', 'Nightly', 'Offsite'])
    const carol = await createTenant(deps.db, {
      ...input,
      name: 'carol',
      password: PASSWORD,
      homeDir: '/home/carol-none',
      systemUser: '',
      plan: 'gold',
    })
    expect(await names(carol.id)).toEqual(['Gold hourly-ish', 'Nightly', 'Offsite'])
    await editTenant(deps.db, alice.tenant.id, { ...input, plan: '' })
    expect(await names(alice.tenant.id)).toEqual(['Nightly', 'Offsite'])
    // Its destination copy stays, so backups made under the plan remain restorable.
    const dests = (await listDestinations(deps.db, alice.tenant.id)).map((d) => d.name)
    expect(dests).toEqual(['Host S3', 'Host disk'].sort())
  })

  it('counts a failing provider backup in the admin’s tenant health', async () => {
    const copy = (await listPolicies(deps.db, bob.tenant.id)).find((p) => p.name === 'Nightly')!
    // Bob's earlier page visits queued jobs of their own (reading a file list): let them end
    // first, or the backup waits behind one that retries the broken storage for a minute.
    const busy = async () =>
      (
        await deps.db
          .select()
          .from(jobs)
          .where(and(eq(jobs.tenantId, bob.tenant.id), inArray(jobs.status, ['queued', 'running'])))
      ).length
    for (let i = 0; i < 300 && (await busy()); i++) await new Promise((r) => setTimeout(r, 100))
    // The host's storage breaks: its folder becomes a file.
    const path = join(deps.config.localRoot, 'bob', '_host', 'nightly')
    spawnSync('mv', [path, `${path}.away`])
    spawnSync('sh', ['-c', `printf x > '${path}'`])
    const streak = async () =>
      (await deps.db.select().from(tenantHealth).where(eq(tenantHealth.tenantId, bob.tenant.id)))[0]
        ?.failingStreak ?? 0
    try {
      await requestBackup(deps.db, bob.tenant.id, copy.id, 'manual')
      runner.wake()
      // The first failed attempt counts; the job's retries come later.
      for (let i = 0; i < 600 && (await streak()) === 0; i++)
        await new Promise((r) => setTimeout(r, 100))
      expect(await streak()).toBeGreaterThan(0)
      const admin = new Client(deps)
      await admin.login('root-admin')
      const page = await admin.get('/admin/tenants?filter=failing')
      expect(page.body).toContain('bob')
      expect(page.body).toContain('Failing')
    } finally {
      spawnSync('rm', ['-f', path])
      spawnSync('mv', [`${path}.away`, path])
    }
  }, 180_000)
})
