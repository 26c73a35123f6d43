import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinaries } from '../support/rekey.ts'
import { forgetPlan, type KeepRules } from '../../src/engine/jobs/forget-plan.ts'
import { openKeyFile, sealKeyFile } from '../../src/engine/restic/key-file.ts'
import { wallClock } from '../../src/zoned.ts'

const ZONE = 'America/New_York'
const PASSWORD = 'forget-plan-test'

/**
 * The panel's own retention plan (from its catalog) removes exactly what real restic's
 * `forget --dry-run` removes, for snapshots spread over three years in a zone with daylight
 * saving time, including times a second before and at local midnight.
 */
describe.runIf(requireBinaries(['restic'], 'apt-get install restic'))(
  'forget plan matches restic',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'forget-plan-'))
    const repo = join(dir, 'repo')
    const source = join(dir, 'src')
    const restic = (args: string[]) => {
      const res = spawnSync('restic', [...args, '--no-cache'], {
        env: {
          PATH: process.env.PATH,
          RESTIC_REPOSITORY: repo,
          RESTIC_PASSWORD: PASSWORD,
          TZ: ZONE,
        },
        encoding: 'utf8',
      })
      if (res.status !== 0) throw new Error(res.stderr)
      return res.stdout
    }
    let snaps: { id: string; time: Date }[] = []

    beforeAll(async () => {
      restic(['init'])
      // A cheap key, so the many backups below take seconds, not a minute.
      const keys = join(repo, 'keys')
      const [name] = readdirSync(keys)
      const file = JSON.parse(readFileSync(join(keys, name!), 'utf8'))
      const made = await sealKeyFile((await openKeyFile(file, PASSWORD))!, PASSWORD, file)
      writeFileSync(join(keys, made.id), made.bytes)
      unlinkSync(join(keys, name!))
      writeFileSync(join(dir, 'src'), 'x')
      // Every 1-3 days over three years, plus edge times, at varied hours.
      const times: Date[] = []
      let t = Date.UTC(2024, 0, 1, 7)
      let seed = 7
      const next = () => (seed = (seed * 48271) % 2147483647)
      while (times.length < 45) {
        t +=
          (1 + (next() % 3)) * 86_400_000 * (times.length % 5 === 0 ? 9 : 1) +
          (next() % 7) * 3600_000
        times.push(new Date(t))
      }
      times.push(new Date(Date.UTC(2026, 5, 30, 3, 59, 59))) // 23:59:59 local (EDT)
      times.push(new Date(Date.UTC(2026, 5, 30, 4, 0, 0))) // 00:00:00 local
      for (const at of times) {
        const wall = wallClock(at, ZONE)
        if (!wall) continue
        restic(['backup', '--time', wall, '--tag', 'policy:1', '--host', 'h', source])
      }
      snaps = JSON.parse(restic(['snapshots', '--json'])).map((s: any) => ({
        id: s.id,
        time: new Date(s.time),
      }))
    }, 120_000)
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    const rules: KeepRules[] = [
      { keepLast: 0, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 0 },
      { keepLast: 3, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 },
      { keepLast: 2, keepDaily: 3, keepWeekly: 5, keepMonthly: 2, keepYearly: 3 },
      { keepLast: 0, keepDaily: 0, keepWeekly: 10, keepMonthly: 0, keepYearly: 0 },
      { keepLast: 0, keepDaily: 30, keepWeekly: 0, keepMonthly: 0, keepYearly: 1 },
    ]
    it.each(rules)('removes what restic removes: %o', (keep) => {
      expect(snaps.length).toBeGreaterThan(40)
      const flags = Object.entries(keep)
        .filter(([, n]) => n > 0)
        .flatMap(([k, n]) => [`--${k.replace('keep', 'keep-').toLowerCase()}`, String(n)])
      const out = JSON.parse(
        restic(['forget', '--dry-run', '--json', '--tag', 'policy:1', '--group-by', '', ...flags]),
      )
      const byRestic = out.flatMap((g: any) => (g.remove ?? []).map((s: any) => s.id)).sort()
      const plan = forgetPlan(snaps, keep, ZONE)
      expect(plan.doubt).toBe(false)
      expect(plan.remove.sort()).toEqual(byRestic)
      expect(byRestic.length).toBeGreaterThan(0)
    })

    it('is in doubt about a time recorded before restic started, a moment before midnight', () => {
      const late = { id: 'x', time: new Date(Date.UTC(2026, 5, 30, 3, 59, 30, 250)) }
      expect(forgetPlan([...snaps, late], rules[0]!, ZONE).doubt).toBe(true)
    })
  },
)
