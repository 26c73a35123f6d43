import { afterAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { localDriver } from '../../src/drivers/local/driver.ts'
import { classify } from '../../src/drivers/local/errors.ts'
import { codeOf, driverConformance, keys, putBytes, readAll } from '../drivers/suite.ts'

const made: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'local-driver-'))
  made.push(dir)
  return dir
}
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))))

driverConformance('local', async () => {
  const dir = await tempDir()
  return {
    driver: localDriver(join(dir, 'root')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
})

describe('local driver', () => {
  it('creates root and folders 0700 and objects 0600 on the first put', async () => {
    const dir = await tempDir()
    const d = localDriver(join(dir, 'root'))
    await putBytes(d, 'a/b/c', 'x')
    for (const p of ['root', 'root/a', 'root/a/b']) {
      expect((await stat(join(dir, p))).mode & 0o777, p).toBe(0o700)
    }
    expect((await stat(join(dir, 'root/a/b/c'))).mode & 0o777).toBe(0o600)
  })

  it('refuses a symlinked folder below root, and writes nothing through it', async () => {
    const dir = await tempDir()
    const d = localDriver(join(dir, 'root'))
    await mkdir(join(dir, 'outside'))
    await writeFile(join(dir, 'outside/x'), 'secret')
    await putBytes(d, 'real/y', 'ok')
    await symlink(join(dir, 'outside'), join(dir, 'root/link'))

    expect(await codeOf(putBytes(d, 'link/new', 'evil'))).toBe('BadConfig')
    expect(await codeOf(putBytes(d, 'link/sub/new', 'evil'))).toBe('BadConfig')
    expect(await codeOf(d.get('link/x'))).toBe('BadConfig')
    expect(await codeOf(d.stat('link/x'))).toBe('BadConfig')
    expect(await codeOf(d.remove('link/x'))).toBe('BadConfig')
    expect(await codeOf(keys(d, 'link/'))).toBe('BadConfig')
    expect(await keys(d, '')).toEqual(['real/y'])
    expect(existsSync(join(dir, 'outside/new'))).toBe(false)
    expect(existsSync(join(dir, 'outside/sub'))).toBe(false)
    expect(await readFile(join(dir, 'outside/x'), 'utf8')).toBe('secret')
  })

  it('never follows a symlink planted at the key: reads refuse, a put replaces the link', async () => {
    const dir = await tempDir()
    const d = localDriver(join(dir, 'root'))
    await putBytes(d, 'seed', 'x')
    await writeFile(join(dir, 'target'), 'secret')
    await symlink(join(dir, 'target'), join(dir, 'root/k'))

    expect(await codeOf(d.get('k'))).toBe('BadConfig')
    expect(await codeOf(d.stat('k'))).toBe('BadConfig')
    expect(await keys(d, '')).toEqual(['seed'])
    await putBytes(d, 'k', 'new')
    expect(await readFile(join(dir, 'target'), 'utf8')).toBe('secret')
    expect((await lstat(join(dir, 'root/k'))).isFile()).toBe(true)
    expect((await readAll(await d.get('k'))).toString()).toBe('new')
  })

  it('accepts a root that is itself a symlink (the admin’s choice)', async () => {
    const dir = await tempDir()
    await mkdir(join(dir, 'real'))
    await symlink(join(dir, 'real'), join(dir, 'root'))
    const d = localDriver(join(dir, 'root'))
    await putBytes(d, 'a/b', 'via link')
    expect(await readFile(join(dir, 'real/a/b'), 'utf8')).toBe('via link')
    expect(await keys(d, '')).toEqual(['a/b'])
  })

  it('never lists a partial temp file, left over or in flight', async () => {
    const dir = await tempDir()
    const d = localDriver(join(dir, 'root'))
    await mkdir(join(dir, 'root/d'), { recursive: true })
    await writeFile(join(dir, 'root/d/.obj.tmp-0a1b2c'), 'partial')
    expect(await keys(d, '')).toEqual([])
    expect(await codeOf(d.stat('d/.obj.tmp-0a1b2c'))).toBe('BadConfig')

    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let wrote!: () => void
    const started = new Promise<void>((resolve) => (wrote = resolve))
    const source = Readable.from(
      (async function* () {
        yield Buffer.from('half')
        wrote()
        await gate
        yield Buffer.from('half')
      })(),
    )
    const put = d.put('d/obj', () => source, { size: 8 })
    await started
    expect(await keys(d, '')).toEqual([])
    expect(await codeOf(d.stat('d/obj'))).toBe('NotFound')
    release()
    await put
    expect(await keys(d, '')).toEqual(['d/obj'])
  })

  it('treats a key under an existing object as missing, and refuses to put there', async () => {
    const d = localDriver(join(await tempDir(), 'root'))
    await putBytes(d, 'file', 'x')
    expect(await codeOf(d.get('file/child'))).toBe('NotFound')
    await d.remove('file/child')
    expect(await codeOf(putBytes(d, 'file/child', 'y'))).toBe('BadConfig')
  })
})

describe('classify', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: at /secret/path`), { code })
  it.each([
    ['ENOENT', 'NotFound', 'the object does not exist'],
    ['EACCES', 'BadConfig', 'the backup folder is not writable'],
    ['EPERM', 'BadConfig', 'the backup folder is not writable'],
    ['ENOSPC', 'NoSpace', 'the backup disk is full'],
    ['EDQUOT', 'NoSpace', 'the backup disk is full'],
    ['EIO', 'Transient', 'the backup folder failed (EIO)'],
  ])('%s → %s', (code, want, message) => {
    const err = classify(errno(code))
    expect(err).toMatchObject({ code: want, message })
    expect(err.cause).toMatchObject({ code })
  })
})
