import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { panelPostgres, pgDeps } from '../support/panel-postgres.ts'
import { addTenant } from '../helpers.ts'
import { listTenants } from '../../src/db/tenants.ts'
import { enqueue, claimJob, completeJob } from '../../src/db/jobs.ts'

describe('smoke', () => {
  let pg: Awaited<ReturnType<typeof panelPostgres>>
  let deps: Awaited<ReturnType<typeof pgDeps>>
  beforeAll(async () => {
    pg = await panelPostgres()
    deps = await pgDeps(pg.url)
  }, 60_000)
  afterAll(async () => {
    await deps?.close()
    await pg?.server.stop()
  })
  it('works', async () => {
    const t = await addTenant(deps, 'alice')
    expect((await listTenants(deps.db)).map((x) => x.name)).toEqual(['alice'])
    const { job } = await enqueue(deps.db, {
      kind: 'sync-snapshots',
      tenantId: t.id,
      payload: { destinationId: 1 } as never,
    })
    const c = await claimJob(deps.db, 'me', 30000)
    expect(c?.id).toBe(job.id)
    expect(await completeJob(deps.db, job.id, 'me')).toBe(true)
  })
})
