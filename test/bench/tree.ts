import { createHash } from 'node:crypto'
import { createReadStream, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** A fingerprint of a folder's regular files: relative paths and contents, in sorted order. */
export type TreeDigest = { digest: string; files: number; bytes: number }

/**
 * Hashes every regular file under `root` (not following symlinks), skipping top-level entries
 * named in `skip`. Two trees with the same digest hold the same paths with the same bytes.
 */
export async function digestTree(root: string, skip: string[] = []): Promise<TreeDigest> {
  const hash = createHash('sha256')
  let files = 0
  let bytes = 0
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )
    for (const e of entries) {
      if (!rel && skip.includes(e.name)) continue
      const path = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) await walk(join(dir, e.name), path)
      else if (e.isFile()) {
        hash.update(`${path}\0`)
        for await (const chunk of createReadStream(join(dir, e.name), { highWaterMark: 1 << 20 })) {
          hash.update(chunk as Buffer)
          bytes += (chunk as Buffer).length
        }
        hash.update('\0')
        files++
      }
    }
  }
  await walk(root, '')
  return { digest: hash.digest('hex').slice(0, 16), files, bytes }
}
