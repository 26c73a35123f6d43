import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { addTenant, freshDeps } from '../helpers.ts'
import { localDestination, policy } from '../support/tenants.ts'
import { removeTenant } from '../../src/domain/remove-tenant.ts'
import { enqueue } from '../../src/db/jobs.ts'
import { destinations, jobs, policies, tenants, users } from '../../src/db/schema.ts'
import { ConflictError } from '../../src/errors.ts'

describe('removing a tenant', () => {
  it('is refused while its job runs, then removes its account, policies and destinations only', async () => {
    const deps = freshDeps()
    const { db } = deps
    const gone = await addTenant(deps, 'gone')
    const stays = await addTenant(deps, 'stays')
    for (const t of [gone, stays])
      await policy(deps, t.id, [(await localDestination(deps, t.id)).id])
    const { job } = await enqueue(db, {
      kind: 'backup',
      tenantId: gone.id,
      payload: { policyId: 0 },
      runAt: new Date(),
    })
    await db.update(jobs).set({ status: 'running' }).where(eq(jobs.id, job.id))

    await expect(removeTenant(db, gone)).rejects.toThrow(ConflictError)
    expect(await db.select().from(tenants)).toHaveLength(2)

    await db.update(jobs).set({ status: 'failed' }).where(eq(jobs.id, job.id))
    const kept = await removeTenant(db, gone)
    expect(kept.map((d) => d.name)).toEqual(['Local'])
    expect((await db.select().from(tenants)).map((t) => t.name)).toEqual(['stays'])
    expect((await db.select().from(users)).map((u) => u.username)).toEqual(['stays'])
    // Exactly stays' own policy and destination are left; gone's (failed) job went with it.
    for (const table of [policies, destinations]) {
      expect((await db.select().from(table)).map((r) => r.tenantId)).toEqual([stays.id])
    }
    expect(await db.select().from(jobs)).toEqual([])
  })
})
