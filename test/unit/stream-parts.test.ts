import { describe, expect, it } from 'vitest'
import { Readable } from 'node:stream'
import { parts } from '../../src/drivers/streams.ts'

/** The byte counts each part's stream gave, reading parts in order as an upload does. */
async function lengths(chunks: number[], size: number, partSize: number) {
  const source = Readable.from(chunks.map((n, i) => Buffer.alloc(n, i)))
  const out: { length: number; read: number }[] = []
  for await (const { body, length } of parts(source, size, partSize)) {
    let read = 0
    for await (const b of body) read += (b as Buffer).length
    out.push({ length, read })
  }
  return out
}

describe('parts: an upload streamed part by part (streams.ts)', () => {
  it('cuts the source into parts of partSize, across and inside its chunks', async () => {
    expect(await lengths([3, 6, 1], 10, 4)).toEqual([
      { length: 4, read: 4 },
      { length: 4, read: 4 },
      { length: 2, read: 2 },
    ])
    expect(await lengths([10], 10, 10)).toEqual([{ length: 10, read: 10 }])
    expect(await lengths([], 0, 4)).toEqual([{ length: 0, read: 0 }])
  })

  it('keeps the bytes in order', async () => {
    const source = Readable.from([Buffer.from('abc'), Buffer.from('defgh')])
    const text: string[] = []
    for await (const { body } of parts(source, 8, 3)) {
      let s = ''
      for await (const b of body) s += (b as Buffer).toString()
      text.push(s)
    }
    expect(text).toEqual(['abc', 'def', 'gh'])
  })

  it('fails the last part before its last bytes when the source is short or long', async () => {
    for (const [chunks, size] of [
      [[4, 3], 8],
      [[4, 4, 1], 8],
      [[9], 8],
    ] as const) {
      const sent: number[] = []
      const run = async () => {
        for await (const { body } of parts(
          Readable.from(chunks.map((n) => Buffer.alloc(n))),
          size,
          4,
        ))
          for await (const b of body) sent.push((b as Buffer).length)
      }
      await expect(run()).rejects.toMatchObject({ code: 'Transient' })
      expect(sent.reduce((a, b) => a + b, 0)).toBeLessThan(size)
    }
  })
})
