import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { runRestic } from '../../src/engine/restic/restic.ts'

/**
 * A reader may start late: a database restore first creates the database, and only then reads
 * `restic dump`. Node drains the stdout of a child that exited untouched, so restic's output
 * must be kept until then; it once vanished, and an empty dump "restored" as an empty database.
 */
describe('runRestic stdout', () => {
  it('keeps every byte for a reader that starts after restic has exited', async () => {
    const env = {
      repository: '/nonexistent',
      password: 'x',
      cacheDir: mkdtempSync(join(tmpdir(), 'restic-out-')),
      runAs: null,
    }
    let out: Readable | undefined
    await runRestic(['version'], env, { stdout: (s) => (out = s) })
    await sleep(200) // restic has exited and Node has had its ticks
    let text = ''
    for await (const chunk of out!) text += String(chunk)
    expect(text).toMatch(/^restic 0\.\d+/)
  })
})
