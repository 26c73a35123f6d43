import { createHash } from 'node:crypto'
import { CronExpressionParser } from 'cron-parser'
import { eq, inArray } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { transaction } from '../db/tx.ts'
import { enqueue } from '../db/jobs.ts'
import { policyJobKey } from '../db/job-payloads.ts'
import { pruneHistory } from '../db/housekeeping.ts'
import { enqueueDueVerifications } from './verify-schedule.ts'
import { backfillTenantHealth, refreshTenantHealth } from '../db/health.ts'
import { policies, scheduleState, tenants, type Policy } from '../db/schema.ts'
import { notify, type NotifyDeps } from '../notify/notify.ts'
import type { NotifyEvent } from '../notify/events.ts'
import type { EngineDeps } from '../engine/deps.ts'
import { dailySelfBackup } from './self-backup.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
/** Slots older than this when first seen count as missed even though they still run. */
const LATE_MS = HOUR
/** Counting missed slots stops here (a minutely cron over a long outage). */
const MAX_COUNTED = 10_000
/** Policies handled per write transaction of a tick. */
const TICK_CHUNK = 500

/**
 * A deterministic start offset for a policy, in [0, min(10 min, interval / 4)), so policies that
 * share a slot (every tenant's 03:00) do not all start at once.
 */
export function spreadMs(policyId: number, intervalMs: number): number {
  const window = Math.max(0, Math.min(10 * MINUTE, Math.floor(intervalMs / 4)))
  const hash = createHash('sha256').update(`policy:${policyId}`).digest().readUInt32BE(0)
  return Math.floor((hash / 2 ** 32) * window)
}

type Missed = { count: number; last: Date | null }
type Slots = { latest: Date; next: Date; missedSince(base: Date, now: Date): Missed }

/** The policy's latest slot <= now, the slot after it, and the missed-slot count. */
function slotsOf(policy: Policy, now: Date): Slots | null {
  const parse = (from: Date) =>
    CronExpressionParser.parse(policy.schedule, { currentDate: from, tz: policy.timezone })
  let latest: Date
  let next: Date
  try {
    // prev() is strictly before currentDate; +1 ms makes a slot exactly at `now` count.
    const upTo = new Date(now.getTime() + 1)
    latest = parse(upTo).prev().toDate()
    next = parse(latest).next().toDate()
  } catch {
    return null // unparseable schedule or zone: saving a policy validates both, so skip quietly
  }
  // Slots strictly between `base` and the latest, plus the latest itself when seen late.
  const missedSince = (base: Date, now: Date): Missed => {
    const late = now.getTime() - latest.getTime() > LATE_MS
    const it = parse(latest)
    let count = late ? 1 : 0
    let last = late ? latest : null
    while (count < MAX_COUNTED && it.hasPrev()) {
      const slot = it.prev().toDate()
      if (slot.getTime() <= base.getTime()) break
      last ??= slot
      count++
    }
    return { count, last }
  }
  return { latest, next, missedSince }
}

/**
 * Turns due schedule slots into backup jobs, and due weekly checks / monthly test restores into
 * verify jobs (enqueueDueVerifications). Per policy: the latest slot <= now, if later than
 * the baseline (the last slot handled; first time the policy's creation; never before its last
 * edit, so a changed schedule does not fire for slots of the old one), becomes one job at
 * slot + spreadMs with dedupe key `backup:policy:<id>`. Slots skipped between the baseline and
 * the latest one count as missed, and so does the latest one when first seen over an hour late.
 * Disabled policies and tenants only advance their baseline. Tenants whose slot advanced get
 * their health row (next run, missed count) recomputed after the commit. The slots are handled in
 * BEGIN IMMEDIATE transactions of TICK_CHUNK policies, so runner processes ticking at once
 * enqueue each slot once. With `notices`, each
 * policy that missed slots raises one 'schedule.missed' after the transaction commits.
 */
export async function tickScheduler(
  db: Db,
  now = new Date(),
  notices?: NotifyDeps,
): Promise<{ enqueued: number; missed: number }> {
  const missedEvents: NotifyEvent[] = []
  // Tenants whose next slot or missed count moved: their health row is recomputed after the
  // commit, each refresh its own short write, so claims and heartbeats never wait behind
  // thousands of them when many policies share a slot (00:00).
  const touched = new Set<number>()
  let enqueued = 0
  let missed = 0
  const tick = async (ids: number[]) => {
    const rows = await db
      .select({ policy: policies, tenantDisabled: tenants.disabled, state: scheduleState })
      .from(policies)
      .innerJoin(tenants, eq(tenants.id, policies.tenantId))
      .leftJoin(scheduleState, eq(scheduleState.policyId, policies.id))
      .where(inArray(policies.id, ids))
    for (const { policy, tenantDisabled, state } of rows) {
      enqueued += await enqueueDueVerifications(db, policy, state, tenantDisabled, now)
      const slots = slotsOf(policy, now)
      if (!slots) continue
      const base = Math.max(
        (state?.lastSlotAt ?? policy.createdAt).getTime(),
        policy.updatedAt.getTime(),
      )
      const { latest } = slots
      if (latest.getTime() <= base) continue
      let missedNow: Missed = { count: 0, last: null }
      if (policy.enabled && !tenantDisabled) {
        missedNow = slots.missedSince(new Date(base), now)
        const spread = spreadMs(policy.id, slots.next.getTime() - latest.getTime())
        const res = await enqueue(db, {
          kind: 'backup',
          tenantId: policy.tenantId,
          payload: {
            policyId: policy.id,
            policyName: policy.name,
            trigger: 'schedule',
            slot: latest.toISOString(),
          },
          runAt: new Date(latest.getTime() + spread),
          dedupeKey: policyJobKey(policy.id, 'backup'),
        })
        if (res.created) enqueued++
      }
      missed += missedNow.count
      if (missedNow.last)
        missedEvents.push({
          type: 'schedule.missed',
          tenantId: policy.tenantId,
          policy: policy.name,
          slot: missedNow.last,
        })
      const lastMissedAt = missedNow.last ?? state?.lastMissedAt ?? null
      const missedCount = (state?.missedCount ?? 0) + missedNow.count
      await db
        .insert(scheduleState)
        .values({ policyId: policy.id, lastSlotAt: latest, missedCount, lastMissedAt })
        .onConflictDoUpdate({
          target: scheduleState.policyId,
          set: { lastSlotAt: latest, missedCount, lastMissedAt },
        })
      touched.add(policy.tenantId)
    }
  }
  // A write transaction per TICK_CHUNK policies: a slot that 10,000 policies share (every
  // tenant's 03:00, or a long outage) never holds the write lock for seconds, so claims and
  // heartbeats keep going. Each chunk re-reads its state inside its own transaction, so runner
  // processes ticking at once still enqueue each slot once.
  const ids = (await db.select({ id: policies.id }).from(policies)).map((r) => r.id)
  for (let i = 0; i < ids.length; i += TICK_CHUNK) {
    const chunk = ids.slice(i, i + TICK_CHUNK)
    await transaction(db, () => tick(chunk))
  }
  const result = { enqueued, missed }
  for (const tenantId of touched) await refreshTenantHealth(db, tenantId, now)
  await backfillTenantHealth(db, now)
  if (notices) for (const e of missedEvents) await notify(notices, e)
  return result
}

export type SchedulerOptions = {
  /** Default 30 000 ms. */
  intervalMs?: number
  /** Called after a tick that enqueued jobs (e.g. the runner's `wake`). */
  onEnqueue?: (count: number) => void
  /** Default console.error; a failed tick is retried at the next interval. */
  onError?: (err: unknown) => void
  /** Raise 'schedule.missed' notices (the serve/runner process passes its db and config). */
  notices?: NotifyDeps
  /** Trim old audit entries and notices (pruneHistory) at start and every 6 hours. */
  housekeeping?: { auditDays: number }
  /** Run the daily panel backup (Admin > Panel backup) when its time comes. */
  selfBackup?: EngineDeps
}

const HOUSEKEEPING_MS = 6 * HOUR

/** Ticks now and then every `intervalMs` until `stop()` (which ends a running panel backup). */
export function startScheduler(db: Db, opts: SchedulerOptions = {}): { stop(): Promise<void> } {
  const { intervalMs = 30_000, onEnqueue } = opts
  const onError = opts.onError ?? ((err: unknown) => console.error('scheduler:', err))
  let keptAt = 0
  const daily = opts.selfBackup ? dailySelfBackup(opts.selfBackup, onError) : null
  /** The tick running now, if any: ticks never overlap, and stop() waits for it. */
  let ticking: Promise<void> | undefined
  const tick = async () => {
    try {
      const { enqueued } = await tickScheduler(db, new Date(), opts.notices)
      if (enqueued) onEnqueue?.(enqueued)
      if (opts.housekeeping && Date.now() - keptAt >= HOUSEKEEPING_MS) {
        keptAt = Date.now()
        await pruneHistory(db, opts.housekeeping)
      }
    } catch (err) {
      onError(err)
    }
    try {
      await daily?.tick()
    } catch (err) {
      onError(err)
    }
  }
  const run = async () => {
    if (ticking) return // the last tick is still running: this one is skipped
    ticking = tick()
      .catch((err) => onError(err))
      .finally(() => {
        ticking = undefined
      })
  }
  const timer = setInterval(run, intervalMs)
  const first = setTimeout(run, 0)
  return {
    stop: async () => {
      clearInterval(timer)
      clearTimeout(first)
      await ticking // a tick under way ends first, so it starts no panel backup after this
      await daily?.stop()
    },
  }
}
