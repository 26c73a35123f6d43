import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { open, seal } from '../../src/secret-box.ts'

describe('secret box (AES-256-GCM)', () => {
  const key = randomBytes(32)

  it('round-trips and never contains the plaintext', () => {
    const sealed = seal(key, 'hunter2-secret', 'ctx')
    expect(sealed).not.toContain('hunter2')
    expect(open(key, sealed, 'ctx')).toBe('hunter2-secret')
  })

  it('uses a fresh IV each time', () => {
    expect(seal(key, 'same', 'ctx')).not.toBe(seal(key, 'same', 'ctx'))
  })

  it('refuses another key, another context, or changed bytes', () => {
    const sealed = seal(key, 'value', 'tenant:1')
    expect(() => open(randomBytes(32), sealed, 'tenant:1')).toThrow()
    expect(() => open(key, sealed, 'tenant:2')).toThrow()
    const parts = sealed.split('.')
    parts[3] = Buffer.from('tampered').toString('base64url')
    expect(() => open(key, parts.join('.'), 'tenant:1')).toThrow()
  })
})
