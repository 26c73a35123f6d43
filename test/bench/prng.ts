import { createCipheriv, createHash } from 'node:crypto'

/** A seeded generator of floats in [0, 1): mulberry32, so every run draws the same numbers. */
export type Rng = () => number

/** mulberry32 seeded from a string; the same seed always yields the same sequence. */
export function rng(seed: string): Rng {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0)
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A whole number in [min, max], both inclusive. */
export function between(r: Rng, min: number, max: number): number {
  return min + Math.floor(r() * (max - min + 1))
}

export function pick<T>(r: Rng, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!
}

/**
 * Deterministic incompressible bytes: the AES-256-CTR keystream of a key derived from `seed`.
 * Much faster than a JS generator, which matters for hundreds of MB of media.
 */
export function byteStream(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(`key:${seed}`).digest()
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-256-ctr', key, iv)
  return (n) => cipher.update(Buffer.alloc(n))
}
