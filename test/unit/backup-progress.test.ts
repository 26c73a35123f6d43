import { describe, expect, it } from 'vitest'
import { backupProgress } from '../../src/engine/jobs/backup-progress.ts'
import { progressWords } from '../../views/progress.tsx'

const MiB = 2 ** 20

/** A tracker on a fake clock: `at(ms)` moves it. */
function tracker(of = 1, index = 0) {
  let t = 0
  const track = backupProgress({ destination: 'Offsite', index, of }, () => t)
  return { track, at: (ms: number) => (t = ms) }
}

describe('backup progress from restic status lines', () => {
  it('says Scanning while restic still finds files, with no percentage, even at its 100%', () => {
    const { track, at } = tracker()
    at(0)
    let p = track(
      {
        total_files: 120,
        total_bytes: 3 * MiB,
        files_done: 120,
        bytes_done: 3 * MiB,
        percent_done: 1,
      },
      0,
    )
    expect(p).toMatchObject({ phase: 'scanning', percent: null, totalFiles: 120 })
    expect(progressWords(p)).toBe('Scanning your files: 120 found so far (3 MiB)')
    at(500)
    p = track(
      {
        total_files: 363,
        total_bytes: 9 * MiB,
        files_done: 200,
        bytes_done: 5 * MiB,
        percent_done: 0.55,
      },
      0,
    )
    expect(p.phase).toBe('scanning')
    expect(progressWords(p)).toContain('363 found so far')
  })

  it('turns to Uploading X of Y at a rate once restic says how long is left', () => {
    const { track, at } = tracker()
    at(0)
    track({ total_files: 363, total_bytes: 100 * MiB, bytes_done: 0 }, 0)
    at(1000)
    track(
      {
        total_files: 363,
        total_bytes: 100 * MiB,
        bytes_done: 10 * MiB,
        seconds_elapsed: 1,
        seconds_remaining: 9,
      },
      8 * MiB,
    )
    at(3000)
    const p = track(
      {
        total_files: 363,
        total_bytes: 100 * MiB,
        bytes_done: 30 * MiB,
        seconds_elapsed: 3,
        seconds_remaining: 7,
      },
      26 * MiB,
    )
    expect(p).toMatchObject({ phase: 'uploading', percent: 30, rate: 10 * MiB })
    expect(progressWords(p)).toBe('Uploading 30 MiB of 100 MiB at 10 MiB/s to Offsite')
  })

  it('takes totals that stopped changing for 3 s as the end of the scan', () => {
    const { track, at } = tracker()
    at(0)
    track({ total_files: 10, total_bytes: 50 * MiB, bytes_done: 1 * MiB }, 0)
    at(2900)
    expect(track({ total_files: 10, total_bytes: 50 * MiB, bytes_done: 5 * MiB }, 0).phase).toBe(
      'scanning',
    )
    at(3100)
    expect(track({ total_files: 10, total_bytes: 50 * MiB, bytes_done: 6 * MiB }, 0).phase).toBe(
      'uploading',
    )
  })

  it('never says 100% once restic has read everything but still sends: what was sent, no share', () => {
    const { track, at } = tracker()
    at(0)
    track(
      {
        total_files: 363,
        total_bytes: 100 * MiB,
        bytes_done: 50 * MiB,
        seconds_elapsed: 2,
        seconds_remaining: 2,
      },
      40 * MiB,
    )
    at(4000)
    // restic has read everything (seconds_remaining is 0, so restic leaves it out) and uploads.
    const p = track(
      {
        total_files: 363,
        files_done: 363,
        total_bytes: 100 * MiB,
        bytes_done: 100 * MiB,
        percent_done: 1,
        seconds_elapsed: 4,
      },
      60 * MiB,
    )
    expect(p).toMatchObject({
      phase: 'finishing',
      percent: null,
      sent: 60 * MiB,
      sentRate: 5 * MiB,
    })
    expect(progressWords(p)).toBe(
      'Uploading to Offsite: 60 MiB sent so far at 5 MiB/s; all 100 MiB of files read',
    )
  })

  it('counts the destinations before this one in the percentage', () => {
    const { track, at } = tracker(2, 1)
    at(0)
    const p = track(
      {
        total_files: 4,
        total_bytes: 10 * MiB,
        bytes_done: 5 * MiB,
        seconds_elapsed: 1,
        seconds_remaining: 1,
      },
      0,
    )
    expect(p.percent).toBe(75)
    expect(progressWords(p)).toContain('to Offsite (2 of 2)')
  })

  it('words the other steps as stored, and has words before restic reports', () => {
    expect(progressWords({ stage: 'step', text: 'Applying retention on Offsite…' })).toBe(
      'Applying retention on Offsite…',
    )
    expect(progressWords({})).toBe('Starting…')
  })
})
