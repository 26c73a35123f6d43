import { Readable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import type { Driver } from './types.ts'
import { StorageError } from './types.ts'

/**
 * Test connection: writes a probe object, reads it back, lists it and removes it, so a tenant
 * learns now (not at 3 a.m.) whether credentials, path and write permission are right.
 */
export async function probe(driver: Driver, signal?: AbortSignal): Promise<string> {
  const key = `panel-probe-${randomBytes(6).toString('hex')}`
  const body = randomBytes(64)
  await driver.put(key, () => Readable.from([body]), { size: body.length, signal })
  try {
    const back = Buffer.concat(await (await driver.get(key, { signal })).toArray())
    if (!back.equals(body))
      throw new StorageError(
        'Transient',
        'The destination returned different bytes than were written.',
      )
    let seen = false
    for await (const o of driver.list('', { signal })) if (o.key === key) seen = true
    if (!seen)
      throw new StorageError(
        'Transient',
        'The probe object was written but does not show in a listing.',
      )
  } finally {
    await driver.remove(key, { signal }).catch(() => {})
  }
  return 'Connected: wrote, read back, listed and removed a test object.'
}
