import { describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb } from '../../src/db/client.ts'
import {
  claimSelfBackup,
  ensureSelfBackupPassword,
  finishSelfBackup,
  getSelfBackupRun,
  selfBackupPassword,
  SELF_BACKUP_STALE_MS,
  type SelfBackupSettings,
} from '../../src/db/self-backup.ts'
import { getAdminSettings } from '../../src/db/settings.ts'
import { dailyTimeProblem, dueDailySlot, nextDailyRun } from '../../src/engine/panel/daily.ts'
import { isInside, PANEL_PREFIX } from '../../src/engine/panel/panel-repo.ts'
import { TENANT_NAME } from '../../src/names.ts'
import { randomBytes } from 'node:crypto'

const on = (time: string, savedAt = 0): SelfBackupSettings => ({
  destinationId: 1,
  time,
  enabled: true,
  savedAt,
})
const local = (d: number, h: number, m = 0) => new Date(2026, 11, d, h, m)

describe('the daily panel backup slot (server time)', () => {
  it('is the day whose time passed most recently, and none when off or not set up', () => {
    expect(dueDailySlot(on('03:00'), local(3, 2, 59))).toBe('2026-12-02')
    expect(dueDailySlot(on('03:00'), local(3, 3, 0))).toBe('2026-12-03')
    expect(dueDailySlot(on('23:30'), local(4, 0, 10))).toBe('2026-12-03')
    expect(dueDailySlot({ ...on('03:00'), enabled: false }, local(3, 4))).toBeNull()
    expect(dueDailySlot({ ...on('03:00'), destinationId: null }, local(3, 4))).toBeNull()
  })

  it('never fires for a time that came before the settings were saved', () => {
    const saved = local(3, 15).getTime()
    expect(dueDailySlot(on('03:00', saved), local(3, 16))).toBeNull()
    expect(dueDailySlot(on('03:00', saved), local(4, 3))).toBe('2026-12-04')
    expect(nextDailyRun(on('03:00', saved), null, local(3, 16))).toEqual(local(4, 3))
    expect(nextDailyRun(on('03:00'), '2026-12-03', local(3, 16))).toEqual(local(4, 3))
    expect(nextDailyRun(on('03:00'), '2026-12-02', local(3, 16))).toEqual(local(3, 16))
  })

  it('takes HH:MM only', () => {
    expect(dailyTimeProblem('03:00')).toBeUndefined()
    expect(dailyTimeProblem('23:59')).toBeUndefined()
    for (const bad of ['3:00', '24:00', '12:60', 'noon', ''])
      expect(dailyTimeProblem(bad)).toMatch(/24-hour/)
  })
})

describe('the self-backup claim', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'panel-claim-')), 'panel.db')
  // Two handles on one file: two runner processes.
  const one = openDb(path)
  const two = openDb(path)

  it('lets exactly one process take a daily slot, and nobody start while a run is alive', async () => {
    const now = Date.now()
    expect(await claimSelfBackup(one, { slot: '2026-12-03', now })).toEqual({ ok: true })
    expect(await claimSelfBackup(two, { slot: '2026-12-03', now })).toEqual({
      ok: false,
      running: null,
    })
    const manual = await claimSelfBackup(two, { now })
    expect(manual).toEqual({ ok: false, running: new Date(now) })
    await finishSelfBackup(one, {
      ok: true,
      at: now,
      durationMs: 1,
      destination: 'x',
      trigger: 'schedule',
    })
    expect(await claimSelfBackup(two, { slot: '2026-12-03', now })).toEqual({
      ok: false,
      running: null,
    })
    expect(await claimSelfBackup(two, { now })).toEqual({ ok: true })
    expect((await getSelfBackupRun(one)).slot).toBe('2026-12-03')
    // A run whose process died (no heartbeat) does not block the next day's slot for long.
    const later = now + SELF_BACKUP_STALE_MS + 1
    expect(await claimSelfBackup(one, { slot: '2026-12-04', now: later })).toEqual({ ok: true })
  })

  it('makes the password once, sealed, and hides its keys from the admin settings', async () => {
    const key = randomBytes(32)
    const first = await ensureSelfBackupPassword(one, key)
    expect(first.created).toBe(true)
    expect(first.password).toMatch(/^([a-z2-9]{4}-){5}[a-z2-9]{4}$/)
    expect(await ensureSelfBackupPassword(two, key)).toEqual({
      password: first.password,
      created: false,
    })
    expect(await selfBackupPassword(two, key)).toBe(first.password)
    const raw = one.$client.prepare(
      "SELECT value FROM panel_settings WHERE key = 'selfBackupPassword'",
    )
    expect(JSON.stringify(raw.get())).not.toContain(first.password)
    expect(Object.keys(await getAdminSettings(one))).not.toContain('selfBackupPassword')
  })
})

describe('where the panel backup lives', () => {
  it('is under a prefix no tenant name can take', () => {
    expect(TENANT_NAME.test(PANEL_PREFIX)).toBe(false)
  })

  it('tells a folder inside the data folder, symlinks resolved', () => {
    const data = mkdtempSync(join(tmpdir(), 'panel-data-'))
    expect(isInside(join(data, 'repos/_panel/x'), data)).toBe(true)
    expect(isInside(data, data)).toBe(true)
    expect(isInside(`${data}-other/x`, data)).toBe(false)
    expect(isInside(join(data, '../elsewhere'), data)).toBe(false)
  })
})
