import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { StorageError, type Driver, type StorageErrorCode } from '../../src/drivers/types.ts'

/** A fresh, empty store for one test; `cleanup` closes the driver and deletes what it wrote. */
export type Harness = { driver: Driver; cleanup(): Promise<void> }

/** Puts `data` under `key` from an in-memory source. */
export async function putBytes(
  d: Driver,
  key: string,
  data: string | Buffer,
  signal?: AbortSignal,
) {
  const buf = Buffer.from(data)
  await d.put(key, () => Readable.from([buf]), { size: buf.length, signal })
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks)
}

export async function keys(d: Driver, prefix: string): Promise<string[]> {
  const out: string[] = []
  for await (const { key } of d.list(prefix)) out.push(key)
  return out.sort()
}

/** The StorageError code `p` rejects with; fails the test if it resolves or rejects otherwise. */
export async function codeOf(p: Promise<unknown>): Promise<StorageErrorCode> {
  const err = await p.then(
    () => expect.fail('expected a StorageError, but the call succeeded'),
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StorageError)
  return (err as StorageError).code
}

/** 1 MiB chunks that differ from each other, identical on every call (so retries re-read). */
function* bigChunks(seed: Buffer, count: number) {
  for (let i = 0; i < count; i++) {
    const chunk = Buffer.from(seed)
    chunk.writeUInt32BE(i, 0)
    yield chunk
  }
}

/** Endless 64 KiB chunks, slowly, calling `onChunk` after each: a source to cancel mid-way. */
function endless(onChunk: () => void): Readable {
  return Readable.from(
    (async function* () {
      for (;;) {
        yield Buffer.alloc(64 * 1024, 7)
        onChunk()
        await sleep(5)
      }
    })(),
  )
}

/**
 * The contract every driver meets (restic's `test.Suite`); each driver's integration test calls
 * this with a factory for fresh, empty stores. Beyond types.ts it pins down: cancelling a call
 * through its signal rejects with a `Transient` StorageError, and cancelling a get's stream
 * destroys it with an AbortError; invalid keys (and list prefixes) reject `BadConfig`.
 */
export function driverConformance(name: string, make: () => Promise<Harness>) {
  describe(`driver conformance: ${name}`, () => {
    let h: Harness
    let d: Driver
    beforeEach(async () => {
      h = await make()
      d = h.driver
    })
    afterEach(() => h.cleanup())

    it('round-trips an object, and an empty one', async () => {
      await putBytes(d, 'a/b/hello.txt', 'hello world')
      expect((await readAll(await d.get('a/b/hello.txt'))).toString()).toBe('hello world')
      await putBytes(d, 'empty', '')
      expect((await readAll(await d.get('empty'))).length).toBe(0)
      expect(await d.stat('empty')).toEqual({ key: 'empty', size: 0 })
    })

    it('overwrites an object', async () => {
      await putBytes(d, 'k', 'first version, longer')
      await putBytes(d, 'k', 'second')
      expect((await readAll(await d.get('k'))).toString()).toBe('second')
      expect(await d.stat('k')).toEqual({ key: 'k', size: 6 })
    })

    it('reads byte ranges [start, end) and [start, ∞)', async () => {
      const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      await putBytes(d, 'r', data)
      const range = async (start: number, end?: number) =>
        readAll(await d.get('r', { range: { start, end } }))
      expect(await range(10, 20)).toEqual(data.subarray(10, 20))
      expect(await range(250)).toEqual(data.subarray(250))
      expect(await range(0, 1)).toEqual(data.subarray(0, 1))
      expect((await range(5, 5)).length).toBe(0)
    })

    it('lists by prefix, nested keys included, with sizes', async () => {
      for (const key of ['p/a', 'p/b/c', 'p/b/d/e', 'pz', 'q/x']) await putBytes(d, key, key)
      expect(await keys(d, 'p/')).toEqual(['p/a', 'p/b/c', 'p/b/d/e'])
      expect(await keys(d, 'p/b/')).toEqual(['p/b/c', 'p/b/d/e'])
      expect(await keys(d, 'p')).toEqual(['p/a', 'p/b/c', 'p/b/d/e', 'pz'])
      expect(await keys(d, '')).toEqual(['p/a', 'p/b/c', 'p/b/d/e', 'pz', 'q/x'])
      expect(await keys(d, 'nothing/')).toEqual([])
      const infos = []
      for await (const info of d.list('p/b/')) infos.push(info)
      expect(infos.sort((x, y) => x.key.localeCompare(y.key))).toEqual([
        { key: 'p/b/c', size: 5 },
        { key: 'p/b/d/e', size: 7 },
      ])
    })

    it('stats an object’s size', async () => {
      await putBytes(d, 's/size', Buffer.alloc(12345))
      expect(await d.stat('s/size')).toEqual({ key: 's/size', size: 12345 })
    })

    it('rejects NotFound for a missing key', async () => {
      expect(await codeOf(d.stat('missing'))).toBe('NotFound')
      expect(await codeOf(d.get('missing'))).toBe('NotFound')
      expect(await codeOf(d.get('no/such/folder/key'))).toBe('NotFound')
    })

    it('removes objects; removing a missing key resolves', async () => {
      await putBytes(d, 'gone/soon', 'x')
      await d.remove('gone/soon')
      expect(await codeOf(d.stat('gone/soon'))).toBe('NotFound')
      expect(await keys(d, 'gone/')).toEqual([])
      await d.remove('gone/soon')
      await d.remove('never/was')
    })

    it('rejects invalid keys with BadConfig', async () => {
      const bad = ['', '/abs', 'a//b', 'a/', './a', 'a/./b', '..', 'a/../b', '../x', 'a\0b']
      for (const key of bad) {
        expect(await codeOf(putBytes(d, key, 'x')), `put ${JSON.stringify(key)}`).toBe('BadConfig')
        expect(await codeOf(d.get(key)), `get ${JSON.stringify(key)}`).toBe('BadConfig')
        expect(await codeOf(d.stat(key)), `stat ${JSON.stringify(key)}`).toBe('BadConfig')
        expect(await codeOf(d.remove(key)), `remove ${JSON.stringify(key)}`).toBe('BadConfig')
      }
      expect(await codeOf(keys(d, '../'))).toBe('BadConfig')
      expect(await codeOf(keys(d, '/'))).toBe('BadConfig')
    })

    it('leaves no visible object when a put is cancelled', async () => {
      const ac = new AbortController()
      let chunks = 0
      const source = () => endless(() => ++chunks === 3 && ac.abort())
      const put = d.put('cancel/me', source, { size: 1 << 30, signal: ac.signal })
      expect(await codeOf(put)).toBe('Transient')
      expect(await codeOf(d.stat('cancel/me'))).toBe('NotFound')
      expect(await keys(d, '')).toEqual([])
    })

    it('keeps the old object when an overwrite is cancelled (atomic put)', async (ctx) => {
      if (!d.capabilities.atomicPut) ctx.skip()
      await putBytes(d, 'keep', 'old')
      const ac = new AbortController()
      const source = () => endless(() => ac.abort())
      expect(await codeOf(d.put('keep', source, { size: 1 << 30, signal: ac.signal }))).toBe(
        'Transient',
      )
      expect((await readAll(await d.get('keep'))).toString()).toBe('old')
      expect(await keys(d, '')).toEqual(['keep'])
    })

    it('destroys a get’s stream with an AbortError when cancelled', async () => {
      await putBytes(d, 'stream/big', randomBytes(4 << 20))
      const ac = new AbortController()
      const stream = await d.get('stream/big', { signal: ac.signal })
      let read = 0
      const consume = (async () => {
        for await (const chunk of stream) {
          read += chunk.length
          ac.abort()
        }
      })()
      await expect(consume).rejects.toMatchObject({ name: 'AbortError' })
      expect(read).toBeLessThan(4 << 20)
      expect(await codeOf(d.get('stream/big', { signal: ac.signal }))).toBe('Transient')
    })

    it('round-trips a 40 MiB streamed object (sha256) and ranges inside it', async () => {
      const seed = randomBytes(1 << 20)
      const want = createHash('sha256')
      for (const chunk of bigChunks(seed, 40)) want.update(chunk)
      await d.put('big/object', () => Readable.from(bigChunks(seed, 40)), { size: 40 << 20 })
      expect(await d.stat('big/object')).toEqual({ key: 'big/object', size: 40 << 20 })
      const got = createHash('sha256')
      for await (const chunk of await d.get('big/object')) got.update(chunk)
      expect(got.digest('hex')).toBe(want.digest('hex'))
      // Across the boundary between chunk 0 and chunk 1 (whose first 4 bytes are its index).
      const start = (1 << 20) - 3
      const slice = await readAll(await d.get('big/object', { range: { start, end: start + 8 } }))
      expect(slice).toEqual(
        Buffer.concat([seed.subarray(-3), Buffer.from([0, 0, 0, 1]), seed.subarray(4, 5)]),
      )
    }, 120_000)

    it('rejects a put whose source is shorter or longer than size, storing nothing', async () => {
      const five = () => Readable.from([Buffer.from('12345')])
      expect(await codeOf(d.put('short', five, { size: 10 }))).toBe('Transient')
      expect(await codeOf(d.put('long', five, { size: 3 }))).toBe('Transient')
      expect(await codeOf(d.stat('short'))).toBe('NotFound')
      expect(await codeOf(d.stat('long'))).toBe('NotFound')
      expect(await keys(d, '')).toEqual([])
    })
  })
}
