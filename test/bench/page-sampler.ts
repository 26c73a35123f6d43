import { setTimeout as sleep } from 'node:timers/promises'
import type { HttpSession } from './http-session.ts'

/** One page to sample: its row label, the signed-in session and the path. */
export type PageTarget = { label: string; session: HttpSession; path: string }

/** Response times (ms) per page label, and the requests that did not answer 200. */
export type PageSamples = { times: Map<string, number[]>; errors: string[] }

const GAP_MS = Number(process.env.BENCH_PAGE_GAP_MS ?? 75)

/**
 * Requests every target over and over, one loop per page, each waiting GAP_MS (default 75,
 * BENCH_PAGE_GAP_MS) after an answer before its next request, so each page is asked every
 * ~75 ms plus its own response time, as a few people clicking around would. The loops start
 * staggered. `stop()` waits for requests in flight and returns what was measured.
 */
export function samplePages(targets: PageTarget[]): { stop(): Promise<PageSamples> } {
  let running = true
  const samples: PageSamples = { times: new Map(), errors: [] }
  const loops = targets.map(async (t, i) => {
    const times: number[] = []
    samples.times.set(t.label, times)
    await sleep((GAP_MS / targets.length) * i)
    while (running) {
      try {
        const res = await t.session.get(t.path)
        // A login page instead of the page means the session is gone: not a fair sample.
        if (res.status === 200 && !/name="password"/.test(res.body)) times.push(res.ms)
        else if (samples.errors.length < 5) samples.errors.push(`${t.path} → ${res.status}`)
      } catch (err) {
        if (samples.errors.length < 5) samples.errors.push(`${t.path}: ${(err as Error).message}`)
      }
      if (running) await sleep(GAP_MS)
    }
  })
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      return samples
    },
  }
}

/** The q-quantile (nearest rank) of unsorted `values`; NaN when there are none. */
export function quantile(values: number[], q: number): number {
  if (!values.length) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

const ms = (n: number) => (Number.isNaN(n) ? '     –' : `${n.toFixed(1).padStart(6)}`)

/**
 * Report rows, one per page: p50 and p95 while idle (the baseline) and while busy, busy p95 ÷
 * idle p95, and whether busy p95 is under `targetMs`.
 */
export function pageRows(idle: PageSamples, busy: PageSamples, targetMs: number): string[] {
  const rows = [
    `  page                      idle p50    p95   busy p50    p95  (n)    busy÷idle p95  p95 < ${targetMs} ms`,
  ]
  for (const [label, times] of busy.times) {
    const base = idle.times.get(label) ?? []
    const [i50, i95, b50, b95] = [
      quantile(base, 0.5),
      quantile(base, 0.95),
      quantile(times, 0.5),
      quantile(times, 0.95),
    ]
    const ratio = b95 / i95
    rows.push(
      `  ${label.padEnd(24)} ${ms(i50)} ${ms(i95)}    ${ms(b50)} ${ms(b95)} ${String(times.length).padStart(4)}` +
        `   ${Number.isFinite(ratio) ? `${ratio.toFixed(1)}×`.padStart(8) : '       –'}       ` +
        (Number.isNaN(b95) ? 'no samples' : b95 < targetMs ? 'met' : 'NOT met'),
    )
  }
  for (const e of [...idle.errors, ...busy.errors]) rows.push(`  request failed: ${e}`)
  return rows
}
