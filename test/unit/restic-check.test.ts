import { describe, expect, it } from 'vitest'
import { resticProblem, resticVersion } from '../../src/engine/restic/restic.ts'

describe('restic version check', () => {
  it('says clearly when restic is missing or too old', () => {
    expect(resticProblem(null)).toMatch(/restic is not installed.*apt-get install restic/)
    expect(resticProblem('0.13.1')).toMatch(/restic 0.13.1 is too old; 0.14.0 or newer/)
    expect(resticProblem('0.14.0')).toBeNull()
    expect(resticProblem('0.17.3')).toBeNull()
    expect(resticProblem('1.0.0')).toBeNull()
  })

  it('reads the installed version', async () => {
    const version = await resticVersion()
    if (process.env.CI === 'true') expect(version).toMatch(/^\d+\.\d+\.\d+$/)
    else if (!version) console.warn('\n*** restic not installed: version read not checked ***\n')
  })
})
