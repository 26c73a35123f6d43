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
    db.update(jobs).set({ status: 'running' }).where(eq(jobs.id, job.id)).run()

    await expect(removeTenant(db, gone)).rejects.toThrow(ConflictError)
    expect(db.select().from(tenants).all()).toHaveLength(2)

    db.update(jobs).set({ status: 'failed' }).where(eq(jobs.id, job.id)).run()
    const kept = await removeTenant(db, gone)
    expect(kept.map((d) => d.name)).toEqual(['Local'])
    expect(
      db
        .select()
        .from(tenants)
        .all()
        .map((t) => t.name),
    ).toEqual(['stays'])
    expect(
      db
        .select()
        .from(users)
        .all()
        .map((u) => u.username),
    ).toEqual(['stays'])
    // Exactly stays' own policy and destination are left; gone's (failed) job went with it.
    for (const table of [policies, destinations]) {
      expect(
        db
          .select()
          .from(table)
          .all()
          .map((r) => r.tenantId),
      ).toEqual([stays.id])
    }
    expect(db.select().from(jobs).all()).toEqual([])
  })
})
