import { describe, expect, it } from 'vitest'
import { eq, like } from 'drizzle-orm'
import { freshDeps, PASSWORD } from '../helpers.ts'
import { hashPassword } from '../../src/auth/password.ts'
import { insertAdmin } from '../../src/db/users.ts'
import { setAdminEmail } from '../../src/db/notifications.ts'
import { notifications, panelSettings } from '../../src/db/schema.ts'
import { saveSelfBackupSettings } from '../../src/db/self-backup.ts'
import { saveProviderDestination } from '../../src/domain/provider-destinations.ts'
import { setAdminSetting } from '../../src/db/settings.ts'
import { dailySelfBackup } from '../../src/runner/self-backup.ts'
import { join } from 'node:path'

describe('a failed daily panel backup', () => {
  it('e-mails every admin with an address, with the reason and where to look', async () => {
    const deps = freshDeps()
    const admin = await insertAdmin(deps.db, 'boss', await hashPassword(PASSWORD))
    await setAdminEmail(deps.db, admin.id, 'boss@example.test')
    // A Local destination inside the data folder: the panel backup refuses it, every night.
    await setAdminSetting(deps.db, 'localRoot', join(deps.config.dataDir, 'repos'))
    const dest = await saveProviderDestination(
      { db: deps.db, secretKey: deps.config.secretKey, drivers: deps.drivers },
      'local',
      null,
      { name: 'Inside', settings: { folder: 'panel' } },
    )
    await saveSelfBackupSettings(deps.db, { destinationId: dest.id, time: '03:00', enabled: true })
    // Settings saved "yesterday", so today's 03:00 slot is due.
    for (const row of await deps.db
      .select()
      .from(panelSettings)
      .where(like(panelSettings.key, '%self%'))) {
      const value = row.value
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue
      await deps.db
        .update(panelSettings)
        .set({ value: { ...value, savedAt: 0 } })
        .where(eq(panelSettings.key, row.key))
    }
    const errors: unknown[] = []
    const daily = dailySelfBackup(deps, (err) => errors.push(err))
    expect(await daily.tick(new Date(Date.now() + 24 * 3600_000))).toBe(true)
    await daily.settled()
    expect(errors).toHaveLength(1)
    const [notice, ...more] = await deps.db.select().from(notifications)
    expect(more).toHaveLength(0)
    expect(notice).toMatchObject({
      recipient: 'boss@example.test',
      channel: 'email',
      event: 'panel.self-backup.failed',
      subject: 'The panel backup failed',
    })
    expect(notice!.body).toContain('inside the panel’s data folder')
    expect(notice!.body).toContain('/admin/panel-backup')
  })
})
