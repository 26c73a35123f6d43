import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeEach, describe, expect, it } from 'vitest'
import { openDb, type Db } from '../../src/db/client.ts'
import { transaction } from '../../src/db/tx.ts'
import { eq } from 'drizzle-orm'
import { panelSettings } from '../../src/db/schema.ts'

let db: Db
const setPanelSetting = async (db: Db, key: string, value: number) => {
  await db
    .insert(panelSettings)
    .values({ key, value })
    .onConflictDoUpdate({ target: panelSettings.key, set: { value } })
}
const getPanelSetting = async (db: Db, key: string) =>
  (await db.select().from(panelSettings).where(eq(panelSettings.key, key)))[0]?.value
beforeEach(() => {
  db = openDb(join(mkdtempSync(join(tmpdir(), 'tx-')), 'panel.db'))
})

describe('transaction()', () => {
  it('commits what the body wrote when it resolves', async () => {
    await transaction(db, async () => {
      await setPanelSetting(db, 'a', 1)
    })
    expect(await getPanelSetting(db, 'a')).toBe(1)
  })

  it('rolls every write back when the body throws', async () => {
    await setPanelSetting(db, 'a', 1)
    await expect(
      transaction(db, async () => {
        await setPanelSetting(db, 'a', 2)
        await setPanelSetting(db, 'b', 2)
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await getPanelSetting(db, 'a')).toBe(1)
    expect(await getPanelSetting(db, 'b')).toBeUndefined()
  })

  it('makes a nested transaction a savepoint: its rollback keeps the outer writes', async () => {
    await transaction(db, async () => {
      await setPanelSetting(db, 'outer', 1)
      await expect(
        transaction(db, async () => {
          await setPanelSetting(db, 'inner', 1)
          throw new Error('inner fails')
        }),
      ).rejects.toThrow('inner fails')
    })
    expect(await getPanelSetting(db, 'outer')).toBe(1)
    expect(await getPanelSetting(db, 'inner')).toBeUndefined()
  })

  it('runs the transactions of one connection one after another', async () => {
    const order: string[] = []
    const one = transaction(db, async () => {
      order.push('one starts')
      await setPanelSetting(db, 'n', 1)
      order.push('one ends')
    })
    const two = transaction(db, async () => {
      order.push('two starts')
      await setPanelSetting(db, 'n', 2)
      order.push('two ends')
    })
    await Promise.all([one, two])
    expect(order).toEqual(['one starts', 'one ends', 'two starts', 'two ends'])
    expect(await getPanelSetting(db, 'n')).toBe(2)
  })

  it('refuses, in tests, a body that waits for anything but the database', async () => {
    await expect(
      transaction(db, async () => {
        await setPanelSetting(db, 'slow', 1)
        await sleep(5)
      }),
    ).rejects.toThrow(/awaited something other than the database/)
    expect(await getPanelSetting(db, 'slow')).toBeUndefined()
  })
})
