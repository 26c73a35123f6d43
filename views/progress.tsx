import { bytes } from './format.ts'

type Stored = Record<string, unknown>

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)

/** " (2 of 3)" when the run backs up to more than one destination. */
function ofWords(p: Stored): string {
  const of = num(p.of)
  return of > 1 ? ` (${num(p.index) + 1} of ${of})` : ''
}

/**
 * A running job's progress in plain words, from runs.progress: what restic is doing now
 * (scanning, uploading X of Y at a rate, finishing the upload) or the step the job is at.
 */
export function progressWords(p: Stored): string {
  const dest = typeof p.destination === 'string' ? p.destination : ''
  if (p.stage === 'snapshot') {
    const to = dest ? ` to ${dest}${ofWords(p)}` : ''
    if (p.phase === 'scanning') {
      const found = num(p.totalFiles).toLocaleString('en')
      return `Scanning your files: ${found} found so far (${bytes(num(p.totalBytes))})`
    }
    if (p.phase === 'finishing') {
      const rate = num(p.sentRate) > 0 ? ` at ${bytes(num(p.sentRate))}/s` : ''
      const read = `all ${bytes(num(p.totalBytes))} of files read`
      return `Uploading${to}: ${bytes(num(p.sent))} sent so far${rate}; ${read}`
    }
    const rate = num(p.rate) > 0 ? ` at ${bytes(num(p.rate))}/s` : ''
    return `Uploading ${bytes(num(p.bytesDone))} of ${bytes(num(p.totalBytes))}${rate}${to}`
  }
  if (typeof p.text === 'string') return p.text
  return 'Starting…'
}

/**
 * The bar and words of a running job. The bar shows a share only when restic measured one
 * against a known total; scanning and the other steps show a moving bar instead.
 */
export function LiveProgress(props: { progress: Stored | null; label: string }) {
  const p = props.progress ?? {}
  const percent = typeof p.percent === 'number' ? Math.max(0, Math.min(99, p.percent)) : null
  const words = progressWords(p)
  return (
    <>
      {/* <progress>, not a styled div: the CSP forbids inline style attributes. */}
      <progress
        class="progress"
        max={100}
        value={percent ?? undefined}
        aria-label={props.label}
        aria-valuetext={percent === null ? words : `${percent}%: ${words}`}
      >
        {percent === null ? words : `${percent}%`}
      </progress>
      <p class="muted small" aria-live="polite">
        {percent === null ? words : `${percent}% · ${words}`}
      </p>
    </>
  )
}
