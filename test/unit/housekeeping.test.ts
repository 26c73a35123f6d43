import { describe, expect, it } from 'vitest'
import { freshDeps, addTenant } from '../helpers.ts'
import { auditLog, notifications } from '../../src/db/schema.ts'
import { pruneHistory } from '../../src/db/housekeeping.ts'
import { loadConfig } from '../../src/config.ts'

const DAY = 86_400_000

describe('history housekeeping', () => {
  it('drops audit entries past PANEL_AUDIT_DAYS and finished notices past 90 days, nothing newer', async () => {
    const deps = freshDeps()
    const { db } = deps
    const tenant = await addTenant(deps, 'hk')
    const now = new Date('2026-12-01T12:00:00Z')
    const ago = (days: number) => new Date(now.getTime() - days * DAY)
    for (const [action, days] of [
      ['old', 400],
      ['edge', 364],
      ['new', 1],
    ] as const) {
      await db.insert(auditLog).values({ actor: 'cli', action, at: ago(days), tenantId: tenant.id })
    }
    const notice = {
      tenantId: tenant.id,
      channel: 'email' as const,
      recipient: 'a@example.com',
      event: 'test',
      body: 'b',
    }
    await db
      .insert(notifications)
      .values({ ...notice, subject: 'old sent', status: 'sent', createdAt: ago(100) })
    await db
      .insert(notifications)
      .values({ ...notice, subject: 'old pending', status: 'pending', createdAt: ago(100) })
    await db
      .insert(notifications)
      .values({ ...notice, subject: 'recent failed', status: 'failed', createdAt: ago(10) })

    expect(await pruneHistory(db, { auditDays: 365, now })).toEqual({ audit: 1, notices: 1 })
    expect((await db.select().from(auditLog)).map((r) => r.action).sort()).toEqual(['edge', 'new'])
    expect((await db.select().from(notifications)).map((r) => r.subject).sort()).toEqual([
      'old pending',
      'recent failed',
    ])

    // 0 keeps the audit log forever.
    expect(
      (await pruneHistory(db, { auditDays: 0, now: new Date(now.getTime() + 1000 * DAY) })).audit,
    ).toBe(0)
    expect(await db.select().from(auditLog)).toHaveLength(2)
  })

  it('reads PANEL_AUDIT_DAYS, refusing what is not a whole number of days', () => {
    expect(
      loadConfig({ PANEL_DATA_DIR: '/tmp/hk-config', PANEL_SECRET_KEY: 'a'.repeat(64) }).auditDays,
    ).toBe(365)
    expect(
      loadConfig({
        PANEL_DATA_DIR: '/tmp/hk-config',
        PANEL_SECRET_KEY: 'a'.repeat(64),
        PANEL_AUDIT_DAYS: '0',
      }).auditDays,
    ).toBe(0)
    expect(() =>
      loadConfig({
        PANEL_DATA_DIR: '/tmp/hk-config',
        PANEL_SECRET_KEY: 'a'.repeat(64),
        PANEL_AUDIT_DAYS: '1.5',
      }),
    ).toThrow(/PANEL_AUDIT_DAYS/)
  })
})
