import { describe, expect, it } from 'vitest'
import { Readable } from 'node:stream'
import { isKey, keySegments, prefixFolder } from '../../src/drivers/keys.ts'
import { byteRange, chunked, counted, rangeHeader } from '../../src/drivers/streams.ts'
import { StorageError } from '../../src/drivers/types.ts'

/** What `fn` throws, as `{ code, message }`. */
function thrown(fn: () => unknown) {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(StorageError)
    return { code: (err as StorageError).code, message: (err as StorageError).message }
  }
  throw new Error('expected a StorageError')
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('object keys (keys.ts)', () => {
  it('takes relative keys without empty, . or .. segments, with per-driver rules on top', () => {
    expect(keySegments('data/ab/cdef')).toEqual(['data', 'ab', 'cdef'])
    for (const bad of ['', '/abs', 'a//b', 'a/', './a', 'a/../b', 'a\0b'])
      expect(thrown(() => keySegments(bad))).toEqual({
        code: 'BadConfig',
        message: `invalid object key ${JSON.stringify(bad)}`,
      })
    expect(isKey('.x.tmp-0a1b')).toBe(true)
    expect(isKey('d/.x.tmp-0a1b', { temp: true })).toBe(false)
    expect(isKey('a\\b', { forbidden: /\\/ })).toBe(false)
    expect(isKey('k'.repeat(901), { maxLength: 900 })).toBe(false)
  })

  it('checks the folder part of a list prefix; its last segment may be partial', () => {
    expect(['', 'p', 'p/', 'a/b/c', 'a/..', 'a/.h'].map((p) => prefixFolder(p))).toEqual([
      '',
      '',
      'p/',
      'a/b/',
      'a/',
      'a/',
    ])
    for (const bad of ['/', '../', 'a//b', './x', 'a\0'])
      expect(thrown(() => prefixFolder(bad)).code).toBe('BadConfig')
    expect(thrown(() => prefixFolder('a\\b', { forbidden: /\\/ })).code).toBe('BadConfig')
  })
})

describe('byte ranges and upload counting (streams.ts)', () => {
  it('checks a range, defaults its start and says when it is empty', () => {
    expect(byteRange()).toEqual({ start: 0, end: undefined, empty: false })
    expect(byteRange({ start: 5, end: 5 })).toEqual({ start: 5, end: 5, empty: true })
    for (const bad of [{ start: -1 }, { start: 1.5 }, { start: 0, end: -2 }])
      expect(thrown(() => byteRange(bad))).toEqual({
        code: 'BadConfig',
        message: 'invalid byte range',
      })
    expect(rangeHeader(byteRange())).toBeUndefined()
    expect(rangeHeader(byteRange({ start: 10, end: 20 }))).toBe('bytes=10-19')
    expect(rangeHeader(byteRange({ start: 250 }))).toBe('bytes=250-')
  })

  it('counts an upload against its size and says whose fault a failure is', async () => {
    const src = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)))
    expect(Buffer.concat(await drain(counted(src('ab', 'c'), 3))).toString()).toBe('abc')
    await expect(drain(counted(src('ab', 'cd'), 3))).rejects.toMatchObject({
      code: 'Transient',
      message: 'expected 3 bytes but the source gave more',
    })
    await expect(drain(counted(src('ab'), 3))).rejects.toMatchObject({
      message: 'expected 3 bytes but the source gave 2',
    })
    const broken = Readable.from(
      (async function* () {
        yield Buffer.from('a')
        throw new Error('client went away')
      })(),
    )
    await expect(drain(counted(broken, 3))).rejects.toMatchObject({
      code: 'Transient',
      message: 'the upload source failed',
    })
  })

  it('cuts an upload into chunks, the last one only after the source gave exactly its size', async () => {
    const sizes = async (parts: number[], size: number) =>
      (await drain(chunked(Readable.from(parts.map((n) => Buffer.alloc(n))), size, 4))).map(
        (b) => b.length,
      )
    expect(await sizes([3, 6, 1], 10)).toEqual([4, 4, 2])
    expect(await sizes([8], 8)).toEqual([4, 4])
    expect(await sizes([], 0)).toEqual([0])
    const seen: number[] = []
    await expect(
      (async () => {
        for await (const b of chunked(Readable.from([Buffer.alloc(8)]), 9, 4)) seen.push(b.length)
      })(),
    ).rejects.toMatchObject({ message: 'expected 9 bytes but the source gave 8' })
    expect(seen).toEqual([4, 4]) // full chunks went, the last (short) one never did
  })
})
