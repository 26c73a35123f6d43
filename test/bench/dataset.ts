import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { between, byteStream, pick, rng, type Rng } from './prng.ts'

const MB = 1024 * 1024

/** What `generateDataset` wrote; paths are relative to `home`. */
export type Dataset = {
  home: string
  smallFiles: string[]
  files: number
  bytes: { small: number; media: number; sql: number; total: number }
}

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which ' +
  'but have an they you were her she there one all we their been has when who will more no if ' +
  'out so said what up its about into than them can only other new some could time these two ' +
  'may first then do any like my now over such our man me even most made after also did many ' +
  'before must through back years where much your way well down should because each just those ' +
  'people how too little state good very make world still own see men work long get here between ' +
  'both life being under never day same another know while last might us great old year off come ' +
  'since against go came right used take three post page theme plugin widget cart order customer ' +
  'product price stock checkout shipping invoice archive category comment author excerpt meta ' +
  'option user session cache media gallery thumbnail header footer sidebar menu template render'
).split(' ')

const TOPS = ['wp-content', 'wp-includes', 'wp-admin']
const MIDS = ['plugins', 'themes', 'uploads', 'js', 'css', 'images', 'includes', 'languages']
const EXTS = ['php', 'php', 'php', 'css', 'js', 'html', 'txt', 'json']

/** Exactly `size` bytes of word text in lines, as source and markup files roughly look. */
function text(r: Rng, size: number): string {
  const parts: string[] = []
  let length = 0
  while (length < size) {
    const words = between(r, 6, 16)
    let line = ''
    for (let i = 0; i < words; i++) line += (i ? ' ' : '') + pick(r, WORDS)
    line += pick(r, [';', ',', '.', ' {', ' }', '']) + '\n'
    parts.push(line)
    length += line.length
  }
  return parts.join('').slice(0, size)
}

/** 40 folders per site, each 3–5 levels below the home: public_html/site-<n>/wp-content/… */
function folders(r: Rng, sites: number): string[] {
  const out = new Set<string>()
  for (let s = 1; s <= sites; s++) {
    for (let i = 0; i < 40; i++) {
      const depth = between(r, 3, 5)
      const parts = ['public_html', `site-${s}`, pick(r, TOPS)]
      if (depth >= 4) parts.push(pick(r, MIDS))
      if (depth >= 5) parts.push(`${pick(r, WORDS)}-${between(r, 1, 99)}`)
      out.add(parts.join('/'))
    }
  }
  return [...out]
}

function writeBig(path: string, total: number, chunk: (n: number) => Buffer | string): void {
  mkdirSync(dirname(path), { recursive: true })
  const fd = openSync(path, 'w')
  try {
    for (let left = total; left > 0;) {
      const piece = chunk(Math.min(left, MB))
      const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece
      writeSync(fd, bytes)
      left -= bytes.length
    }
  } finally {
    closeSync(fd)
  }
}

/** One INSERT line of a shop dump; the caller trims the last chunk to size. */
function insertLine(r: Rng, id: number): string {
  const note = Array.from({ length: between(r, 3, 12) }, () => pick(r, WORDS)).join(' ')
  const name = `${pick(r, WORDS)} ${pick(r, WORDS)}`
  const price = (between(r, 100, 99_999) / 100).toFixed(2)
  return (
    `INSERT INTO \`wp_wc_orders\` (\`id\`, \`customer\`, \`sku\`, \`qty\`, \`price\`, \`note\`) ` +
    `VALUES (${id}, '${name}', 'SKU-${between(r, 10000, 99999)}', ${between(r, 1, 9)}, ${price}, '${note}');\n`
  )
}

/** A mysqldump-like text file of `size` bytes, INSERT lines all the way. */
function writeSqlDump(path: string, size: number): void {
  const r = rng('bench:sql')
  let id = 0
  let carry = '-- MySQL dump 10.19  Distrib 10.11.6-MariaDB\n-- Database: shop\n\n'
  writeBig(path, size, (n) => {
    while (carry.length < n) carry += insertLine(r, ++id)
    const out = carry.slice(0, n)
    carry = carry.slice(n)
    return out
  })
}

/**
 * Writes the benchmark tenant's home under `home`, the same bytes on every run for a given
 * `scale`: ~20,000 small text files (0.5–8 KB) in nested site folders, 200 MB of incompressible
 * media (20 × 10 MB) and a 100 MB SQL dump, each count and size multiplied by `scale`.
 */
export function generateDataset(home: string, scale: number): Dataset {
  const r = rng('bench:tree')
  const count = Math.max(1, Math.round(20_000 * scale))
  const dirs = folders(r, Math.max(1, Math.round(20 * scale)))
  const smallFiles: string[] = []
  let small = 0
  for (let i = 0; i < count; i++) {
    const rel = `${pick(r, dirs)}/${pick(r, WORDS)}-${i}.${pick(r, EXTS)}`
    const body = text(r, between(r, 512, 8192))
    mkdirSync(join(home, dirname(rel)), { recursive: true })
    writeFileSync(join(home, rel), body)
    smallFiles.push(rel)
    small += body.length
  }
  const mediaCount = Math.max(1, Math.round(20 * scale))
  const mediaSize = Math.round((200 * MB * scale) / mediaCount)
  for (let i = 1; i <= mediaCount; i++) {
    writeBig(join(home, 'public_html/media', `video-${i}.mp4`), mediaSize, byteStream(`media:${i}`))
  }
  const sql = Math.round(100 * MB * scale)
  writeSqlDump(join(home, 'db-dumps/shop.sql'), sql)
  const media = mediaCount * mediaSize
  return {
    home,
    smallFiles,
    files: count + mediaCount + 1,
    bytes: { small, media, sql, total: small + media + sql },
  }
}

/**
 * Rewrites `fraction` of the small files in place (same owner) with new text; which files and
 * what they contain depend only on `seed`. Returns how many files changed.
 */
export function changeSmallFiles(data: Dataset, fraction: number, seed: string): number {
  const r = rng(`bench:change:${seed}`)
  const order = data.smallFiles.map((_, i) => i)
  const k = Math.max(1, Math.round(order.length * fraction))
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(r() * (order.length - i))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
    writeFileSync(join(data.home, data.smallFiles[order[i]!]!), text(r, between(r, 512, 8192)))
  }
  return k
}
