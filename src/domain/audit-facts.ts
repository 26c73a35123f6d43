/** A restore request as the audit log describes it. */
export type RestoreRequestFacts = {
  snapshot: string
  paths: string[]
  mode: 'inplace' | 'copy'
  newName?: string
}

/**
 * What a restore takes and where it goes, for the audit log: names only (paths capped at 20),
 * never file contents. Shared by the web route and the CLI verb so both read the same.
 */
export function restoreFacts(
  destination: string,
  r: RestoreRequestFacts,
  database: string | undefined,
  job: number,
): Record<string, unknown> {
  const what = database
    ? { database }
    : {
        paths: r.paths.length ? r.paths.slice(0, 20) : ['(everything)'],
        ...(r.paths.length > 20 ? { morePaths: r.paths.length - 20 } : {}),
      }
  return {
    job,
    destination,
    snapshot: r.snapshot,
    ...what,
    to: r.mode === 'inplace' ? '(in place)' : (r.newName?.trim() ?? ''),
  }
}
