import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config.ts'
import { openDb } from '../../src/db/client.ts'
import { drivers } from '../../src/drivers/registry.ts'
import { findRepository, markInitialized, repositoryFor } from '../../src/db/repositories.ts'
import { repositoryPassword } from '../../src/db/repositories.ts'
import { recoveryKit } from '../../src/engine/restic/recovery.ts'
import { getDestination } from '../../src/db/destinations.ts'
import { addTenant } from '../helpers.ts'
import {
  localDestination,
  policy,
  realTenant,
  removeUsers,
  rootAvailable,
} from '../support/tenants.ts'
import { requireBinaries, stockRestic } from '../support/rekey.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'panel-kit-cli-'))
const config = loadConfig({ PANEL_DATA_DIR: dataDir })
const deps = { db: openDb(config.dbPath), config, drivers }

/** The real `panel` command against this file's data directory; stdout as bytes. */
function panel(args: string[]) {
  const res = spawnSync('node', ['src/bin.js', ...args], {
    env: { ...process.env, PANEL_DATA_DIR: dataDir },
  })
  return { code: res.status, out: res.stdout, err: res.stderr.toString('utf8') }
}

describe.runIf(requireBinaries(['age', 'age-keygen'], 'apt-get install age'))(
  'panel recovery-kit --all (escrow)',
  async () => {
    const alice = await addTenant(deps, 'alice')
    const dest = await localDestination(deps, alice.id, 'kit', 'Here')
    const repo = await repositoryFor(deps.db, config.secretKey, alice.id, dest.id)
    await markInitialized(deps.db, repo.id)
    const password = repositoryPassword(config.secretKey, repo)
    const dir = mkdtempSync(join(tmpdir(), 'escrow-cli-'))
    const identity = join(dir, 'key.txt')
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' })
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim()
    const open = (file: string) =>
      JSON.parse(execFileSync('age', ['-d', '-i', identity, file], { encoding: 'utf8' }))

    it('refuses to print unsealed kits, and a bad key', () => {
      const bare = panel(['recovery-kit', '--all'])
      expect(bare.code).toBe(2)
      expect(bare.err).toContain('--seal-to')
      expect(bare.out.toString()).toBe('')
      const bad = panel(['recovery-kit', '--all', '--seal-to', 'age1nope'])
      expect(bad.code).toBe(1)
      expect(bad.err).toContain('That is not an age public key')
      expect(bad.out.toString()).not.toContain(password)
    })

    it('seals every kit to a file, or to stdout', () => {
      const out = join(dir, 'kits.age')
      const toFile = panel(['recovery-kit', '--all', '--seal-to', recipient, '--out', out])
      expect(toFile.code).toBe(0)
      expect(readFileSync(out).toString('latin1')).not.toContain(password)
      expect(open(out).kits).toEqual([
        expect.objectContaining({ tenant: 'alice', destination: 'Here', password }),
      ])
      const toStdout = panel(['recovery-kit', '--all', '--seal-to', recipient])
      expect(toStdout.code).toBe(0)
      const piped = execFileSync('age', ['-d', '-i', identity], { input: toStdout.out })
      expect(JSON.parse(piped.toString('utf8')).kits[0].password).toBe(password)
    })
  },
)

describe.runIf(rootAvailable() && requireBinaries(['restic'], 'apt-get install restic'))(
  'panel recovery-kit --rotate --wait (real restic)',
  () => {
    afterAll(() => removeUsers())

    it('changes the password; the old one stops opening the repository', async () => {
      const t = await realTenant(deps, 'clirot', { 'a.txt': 'a\n' })
      const destId = (await localDestination(deps, t.tenant.id)).id
      await policy(deps, t.tenant.id, [destId])
      expect(panel(['backup', 'clirot', '--wait']).code).toBe(0)
      const stored = async () =>
        repositoryPassword(config.secretKey, (await findRepository(deps.db, t.tenant.id, destId))!)
      const old = await stored()

      const res = panel(['recovery-kit', 'clirot', '--rotate', '--wait', '--json'])
      expect(res.err).toBe('')
      expect(res.code).toBe(0)
      expect(JSON.parse(res.out.toString())).toMatchObject({ status: 'success', error: null })
      const where = await recoveryKit(
        deps,
        t.tenant,
        await getDestination(deps.db, t.tenant.id, destId),
      )
      expect(await stored()).not.toBe(old)
      expect(stockRestic(where.repository, old, ['snapshots']).ok).toBe(false)
      expect(stockRestic(where.repository, await stored(), ['snapshots']).ok).toBe(true)
      const kit = panel(['recovery-kit', 'clirot'])
      expect(kit.out.toString()).toContain(await stored())
    }, 120_000)
  },
)
