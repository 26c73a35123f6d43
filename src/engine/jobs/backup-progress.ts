// What a running backup tells the Overview and the run page (runs.progress), from restic's
// `backup --json` status lines and the bytes the storage bridge has received.
//
// restic scans the files (growing total_files/total_bytes) while it already reads and uploads
// them, and its percent_done is measured against what it has found so far: early on it reads
// 100% of a small part. restic 0.14 prints no "scan finished" line without -vv (one line per
// file), but it computes seconds_remaining only once the scan has finished, so that field is
// the signal; totals that stopped changing for a few seconds are taken as one too.
//
// restic's bytes_done counts what it has read and packed, not what reached the destination: it
// can read everything in seconds and then spend minutes uploading the packs it wrote to its
// temporary folder. So once every byte is read the phase is "finishing", measured by the bytes
// the bridge received, with no percentage (restic does not say how much is left to send): never
// the "100%" restic's percent_done shows then.

/** One backup stage's live progress, stored as runs.progress (JSON). */
export type BackupProgress = {
  stage: 'snapshot'
  phase: 'scanning' | 'uploading' | 'finishing'
  destination: string
  /** This destination's place among the run's destinations (0-based) and how many there are. */
  index: number
  of: number
  /**
   * The whole run's share read, 0-99, while restic reads; null while scanning (no total yet)
   * and while finishing (how much is left to send is not known).
   */
  percent: number | null
  filesDone: number
  totalFiles: number
  bytesDone: number
  totalBytes: number
  /** Bytes per second restic read over the last few seconds. */
  rate: number
  /** Bytes the destination has received so far, and per second over the last few seconds. */
  sent: number
  sentRate: number
}

/** The fields of restic's `status` line this reads (restic omits zero values). */
export type ResticStatus = {
  seconds_elapsed?: number
  seconds_remaining?: number
  percent_done?: number
  total_files?: number
  files_done?: number
  total_bytes?: number
  bytes_done?: number
}

/** Totals unchanged this long mean the scan is over (restic finished it within its first second). */
export const SCAN_QUIET_MS = 3000
/** The window the rates are measured over. */
export const RATE_WINDOW_MS = 5000

/**
 * Follows one restic backup: call the returned function with each status line (and the bytes
 * the bridge received so far); it returns what to store. `now` is for tests.
 */
export function backupProgress(
  where: { destination: string; index: number; of: number },
  now: () => number = Date.now,
): (m: ResticStatus, sent: number) => BackupProgress {
  let scanned = false
  let totals = ''
  let totalsSince = now()
  const samples: { at: number; done: number; sent: number }[] = []
  return (m, sent) => {
    const at = now()
    const totalFiles = m.total_files ?? 0
    const totalBytes = m.total_bytes ?? 0
    const filesDone = m.files_done ?? 0
    const bytesDone = m.bytes_done ?? 0
    const key = `${totalFiles}/${totalBytes}`
    if (key !== totals) {
      totals = key
      totalsSince = at
    }
    if ((m.seconds_remaining ?? 0) > 0) scanned = true
    else if (totalFiles > 0 && at - totalsSince >= SCAN_QUIET_MS) scanned = true
    samples.push({ at, done: bytesDone, sent })
    while (samples.length > 2 && samples[1]!.at <= at - RATE_WINDOW_MS) samples.shift()
    const first = samples[0]!
    const secs = (at - first.at) / 1000
    const per = (n: number) => (secs > 0 ? Math.max(0, Math.round(n / secs)) : 0)
    const phase = !scanned ? 'scanning' : bytesDone >= totalBytes ? 'finishing' : 'uploading'
    const share = phase !== 'uploading' ? null : totalBytes > 0 ? bytesDone / totalBytes : 0
    return {
      stage: 'snapshot',
      phase,
      destination: where.destination,
      index: where.index,
      of: where.of,
      // Whole percent, never 100 while restic runs: the run is done when its page says so.
      percent:
        share === null ? null : Math.min(99, Math.floor(((where.index + share) / where.of) * 100)),
      filesDone,
      totalFiles,
      bytesDone,
      totalBytes,
      rate: per(bytesDone - first.done),
      sent,
      sentRate: per(sent - first.sent),
    }
  }
}
