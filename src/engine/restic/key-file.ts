import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto'
import { poly1305 } from '@noble/ciphers/_poly1305.js'

/**
 * restic's key files (design.md, "Keys, Encryption and MAC"): a JSON document whose `data` is
 * the repository's master key, sealed with keys derived from the password by scrypt. The sealed
 * form is IV (16) ‖ AES-256-CTR ciphertext ‖ Poly1305-AES tag (16) over the ciphertext; scrypt's
 * 64 bytes are the AES key (32), then the MAC's AES-128 key K (16) and Poly1305 key R (16).
 */
export type KeyFile = {
  created: string
  username: string
  hostname: string
  kdf: string
  N: number
  r: number
  p: number
  salt: string
  data: string
}

/** The scrypt cost the panel writes for passwords it generated itself (see quick-key.ts). */
export const QUICK_KDF = { N: 1024, r: 8, p: 1 } as const

/** Key files asking for more scrypt memory than this are not opened (a planted file could). */
const MAX_SCRYPT_MEMORY = 512 * 1024 * 1024

type Derived = { encrypt: Buffer; macK: Buffer; macR: Buffer }

function derive(password: string, salt: Buffer, k: Pick<KeyFile, 'N' | 'r' | 'p'>) {
  const memory = 128 * k.N * k.r + 128 * k.r * k.p
  if (memory > MAX_SCRYPT_MEMORY) throw new Error('The key file asks for too much scrypt memory.')
  return new Promise<Derived>((resolve, reject) =>
    scrypt(
      password,
      salt,
      64,
      { N: k.N, r: k.r, p: k.p, maxmem: memory * 2 + (1 << 20) },
      (err, out) =>
        err
          ? reject(err)
          : resolve({
              encrypt: out.subarray(0, 32),
              macK: out.subarray(32, 48),
              macR: out.subarray(48),
            }),
    ),
  )
}

function tag(keys: Derived, iv: Buffer, ciphertext: Buffer): Buffer {
  const aes = createCipheriv('aes-128-ecb', keys.macK, null).setAutoPadding(false)
  const s = Buffer.concat([aes.update(iv), aes.final()])
  return Buffer.from(poly1305(ciphertext, Buffer.concat([keys.macR, s])))
}

/** The master key (restic's JSON) inside `file`, or null when `password` does not open it. */
export async function openKeyFile(file: KeyFile, password: string): Promise<Buffer | null> {
  if (file.kdf !== 'scrypt') return null
  const keys = await derive(password, Buffer.from(file.salt, 'base64'), file)
  const data = Buffer.from(file.data, 'base64')
  if (data.length < 33) return null
  const iv = data.subarray(0, 16)
  const ciphertext = data.subarray(16, -16)
  if (!timingSafeEqual(tag(keys, iv, ciphertext), data.subarray(-16))) return null
  const aes = createDecipheriv('aes-256-ctr', keys.encrypt, iv)
  return Buffer.concat([aes.update(ciphertext), aes.final()])
}

/** A new key file for `master` under `password` with the given scrypt cost, and its id. */
export async function sealKeyFile(
  master: Buffer,
  password: string,
  from: Pick<KeyFile, 'username' | 'hostname'>,
  cost: Pick<KeyFile, 'N' | 'r' | 'p'> = QUICK_KDF,
): Promise<{ id: string; bytes: Buffer }> {
  const salt = randomBytes(64)
  const keys = await derive(password, salt, cost)
  const iv = randomBytes(16)
  const aes = createCipheriv('aes-256-ctr', keys.encrypt, iv)
  const ciphertext = Buffer.concat([aes.update(master), aes.final()])
  const file: KeyFile = {
    created: new Date().toISOString(),
    username: from.username,
    hostname: from.hostname,
    kdf: 'scrypt',
    N: cost.N,
    r: cost.r,
    p: cost.p,
    salt: salt.toString('base64'),
    data: Buffer.concat([iv, ciphertext, tag(keys, iv, ciphertext)]).toString('base64'),
  }
  const bytes = Buffer.from(JSON.stringify(file))
  return { id: createHash('sha256').update(bytes).digest('hex'), bytes }
}
