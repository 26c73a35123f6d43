import { describe, expect, it } from 'vitest'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freshDeps } from '../helpers.ts'
import { retireTenantFiles } from '../../src/domain/remove-tenant.ts'

describe('files of a removed tenant', () => {
  it('deletes its work dir without following links and moves its Local backups aside', async () => {
    const { db, config } = freshDeps()
    const outside = mkdtempSync(join(tmpdir(), 'outside-'))
    writeFileSync(join(outside, 'keep.txt'), 'not the tenant’s')
    mkdirSync(join(config.workDir, 'gone', 'cache'), { recursive: true })
    symlinkSync(outside, join(config.workDir, 'gone', 'cache', 'link'))
    mkdirSync(join(config.localRoot, 'gone', 'repo'), { recursive: true })
    writeFileSync(join(config.localRoot, 'gone', 'repo', 'config'), 'restic config')

    const moved = await retireTenantFiles(db, config, 'gone', new Date('2026-12-01T21:40:05Z'))

    expect(existsSync(join(config.workDir, 'gone'))).toBe(false)
    expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('not the tenant’s')
    expect(moved).toBe(join(config.localRoot, '.removed-gone-20261201T214005'))
    expect(readFileSync(join(moved!, 'repo', 'config'), 'utf8')).toBe('restic config')
    expect(existsSync(join(config.localRoot, 'gone'))).toBe(false)
    // Nothing stored locally: nothing to move.
    expect(await retireTenantFiles(db, config, 'never-local')).toBeNull()
  })
})
