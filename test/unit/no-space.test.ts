import { describe, expect, it } from 'vitest'
import { Readable } from 'node:stream'
import { StorageError, type Driver } from '../../src/drivers/types.ts'
import { withRetry } from '../../src/drivers/with-retry.ts'
import { isPermanent } from '../../src/errors.ts'

/** A driver whose puts always fail with `err`, counting the tries. */
function failing(err: StorageError) {
  let tries = 0
  const driver: Driver = {
    capabilities: { atomicPut: true, rangeGet: true, maxConnections: 1 },
    put: async () => {
      tries++
      throw err
    },
    get: async () => Readable.from([]),
    list: async function* () {},
    stat: async (key) => ({ key, size: 0 }),
    remove: async () => {},
  }
  return { driver, tries: () => tries }
}

describe('NoSpace: out of space at the destination', () => {
  it('is neither permanent nor retried within an attempt; the job is retried later', () => {
    const full = new StorageError('NoSpace', 'the backup disk is full')
    expect([full.permanent, full.retryable]).toEqual([false, false])
    expect(isPermanent(full)).toBe(false)
    expect(new StorageError('Transient', 'x')).toMatchObject({ permanent: false, retryable: true })
    expect(new StorageError('BadConfig', 'x')).toMatchObject({ permanent: true, retryable: false })
    expect(isPermanent(new StorageError('AuthFailed', 'x'))).toBe(true)
  })

  it('is given up on at once by withRetry, where Transient is tried again', async () => {
    const put = (d: Driver) => d.put('k', () => Readable.from(['x']), { size: 1 })
    const full = failing(new StorageError('NoSpace', 'the backup disk is full'))
    await expect(put(withRetry(full.driver, { baseMs: 1 }))).rejects.toMatchObject({
      code: 'NoSpace',
    })
    expect(full.tries()).toBe(1)
    const flaky = failing(new StorageError('Transient', 'the connection was cut off'))
    await expect(put(withRetry(flaky.driver, { retries: 2, baseMs: 1 }))).rejects.toMatchObject({
      code: 'Transient',
    })
    expect(flaky.tries()).toBe(3)
  })
})
