import { lastLine, scrubber, type ResticEnv } from './restic.ts'

/**
 * What restic's stderr says about damaged repository data, in plain words, or null when it
 * reports no damage. restic names damaged packs ("Pack ID does not match", "pack … contains
 * errors") in `check` and damaged files ("ignoring error for <path>: ciphertext verification
 * failed") in `restore`; both end with a bare "Fatal:" line that tells a user nothing.
 */
export function damageReport(
  stderr: string,
  env: Pick<ResticEnv, 'repository' | 'password'>,
  showPath: (path: string) => string = (p) => p,
): string | null {
  const lines = scrubber(env)(stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const packs = new Set<string>()
  for (const l of lines) {
    const m =
      l.match(/^Pack ID does not match, want ([0-9a-f]{8})/) ??
      l.match(/^pack ([0-9a-f]{8})[0-9a-f]*:? (?:contains|.*damaged|.*does not match|.*ciphertext)/)
    if (m) packs.add(m[1]!)
  }
  const files = new Map<string, string>()
  for (const l of lines) {
    const m = l.match(/^ignoring error for (.+?): (.+)$/)
    // restic reports a follow-up "UtimesNano: no such file" for the file it could not write.
    if (m && !files.has(m[1]!)) files.set(m[1]!, m[2]!)
  }
  if (packs.size) {
    const ids = [...packs].slice(0, 3).join(', ')
    return `Damaged data on the destination: ${packs.size} stored pack file(s) no longer match their checksum (${ids}${packs.size > 3 ? ', …' : ''}). Something on the destination changed or corrupted them; new backups can reuse the damaged data, so contact your hosting provider to have it repaired.`
  }
  if (files.size) {
    const [[path, why]] = [...files]
    const damaged = /ciphertext|does not match|checksum|unexpected EOF|invalid/i.test(why!)
    const cause = damaged ? `its data on the destination is damaged: ${why}` : why
    const more = files.size > 1 ? ` and ${files.size - 1} more` : ''
    return `${files.size} file(s) could not be restored: ${showPath(path!)}${more} (${cause}).`
  }
  if (lines.some((l) => /ciphertext verification failed|repository contains errors/i.test(l))) {
    return 'Damaged data on the destination: restic found data that does not match its checksum. Contact your hosting provider to have it repaired.'
  }
  return null
}

/** Why restic failed: the damage report, else its last meaningful stderr line (scrubbed). */
export function resticFailure(
  stderr: string,
  env: Pick<ResticEnv, 'repository' | 'password'>,
): string {
  return damageReport(stderr, env) ?? lastLine(stderr, env)
}
