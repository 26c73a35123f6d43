import type { NotifyEvent } from './events.ts'
import { dayTime, safeZone, serverZone } from '../zoned.ts'
import { canonicalZone } from '../time-zones.ts'
import { formatBytes } from '../units.ts'

/** What a notice is about, as `notify()` found it in the database. */
export type Facts = {
  tenant: string
  timezone: string
  /** Destinations whose stage failed or was incomplete in the run, by name. */
  destinations: string[]
  /** Absolute link to the run page (or Overview), or null when there is nothing to link. */
  link: string | null
  at: Date
}

export type Message = { subject: string; body: string }

/** The webhook's JSON body: `{event, tenant, policy, runId, status, reason, at}`. */
export type WebhookPayload = {
  event: string
  tenant: string
  policy: string | null
  runId: number | null
  status: string
  reason: string | null
  at: string
}

/** A date as the tenant reads it, "3 Dec 2026, 09:30 (Europe/Berlin)": their time zone, named. */
export function when(at: Date, timezone: string): string {
  const zone = safeZone(timezone)
  return `${dayTime(at, zone)} (${canonicalZone(zone) ?? zone})`
}

/**
 * The next step for a reason, in words. Matched on the engine's own plain sentences
 * (src/engine/restic/failure.ts and the drivers' classify), most specific first.
 */
export function nextStep(reason: string): string {
  const r = reason.toLowerCase()
  if (/could not be read/.test(r))
    return 'Some files could not be read by your account. Make them readable by your own user (or skip them under Backups > Policies) so the next backup is complete.'
  if (/full|quota|no space/.test(r))
    return 'The destination is out of space. Free space there, or keep fewer backups under Backups > Policies (How long to keep backups).'
  if (/dump of/.test(r))
    return 'A database dump failed. Check that the database still exists and is assigned to you; if its connection changed, ask your administrator.'
  if (/not writable/.test(r))
    return 'The destination’s backup folder cannot be written to. For a Local destination (a folder on this server) tell your administrator; for others check that the account may write there under Backups > Destinations and press Test connection.'
  if (/credential|auth|password|denied|forbidden|permission/.test(r))
    return 'The destination refused access. Check its settings and credentials under Backups > Destinations and press Test connection.'
  if (
    /dns|could not be found|resolve|loopback|private|timed out|timeout|connect|unreachable|refused/.test(
      r,
    )
  )
    return 'The destination could not be reached. Check its host name under Backups > Destinations and press Test connection; if it is down, the next run retries.'
  return 'Open the run page below to see which stage failed and its log, then press Test connection on the destination under Backups > Destinations.'
}

function runLine(f: Facts): string[] {
  return f.link ? [`Run details and log: ${f.link}`] : []
}

function where(f: Facts): string {
  return f.destinations.length ? f.destinations.join(', ') : 'its destinations'
}

/** Subject and plain-text body of the e-mail for `event`. */
export function compose(event: NotifyEvent, f: Facts): Message {
  const at = when(f.at, f.timezone)
  const hello = `Hello ${f.tenant},`
  switch (event.type) {
    case 'backup.failed':
      return {
        subject: `Backup failed: ${event.policy} (${f.tenant})`,
        body: [
          hello,
          '',
          `The backup of policy “${event.policy}” to ${where(f)} failed on ${at}.`,
          '',
          `Reason: ${event.reason}`,
          '',
          `What to do: ${nextStep(event.reason)} Then press “Back up now” on the Overview to check that it works again.`,
          '',
          ...runLine(f),
        ].join('\n'),
      }
    case 'backup.partial':
      return {
        subject: `Backup incomplete: ${event.policy} (${f.tenant})`,
        body: [
          hello,
          '',
          `The backup of policy “${event.policy}” to ${where(f)} finished on ${at}, but not everything was saved.`,
          '',
          `Reason: ${event.reason}`,
          '',
          `What to do: ${nextStep(event.reason)}`,
          '',
          ...runLine(f),
        ].join('\n'),
      }
    case 'backup.recovered':
      return {
        subject: `Backup recovered: ${event.policy} (${f.tenant})`,
        body: [
          hello,
          '',
          `Good news: the backup of policy “${event.policy}” succeeded on ${at}, after the previous run had failed.`,
          'Your backups are working again; nothing else to do.',
          '',
          ...runLine(f),
        ].join('\n'),
      }
    case 'backup.success':
      return {
        subject: `Backup succeeded: ${event.policy} (${f.tenant})`,
        body: [
          hello,
          '',
          `The backup of policy “${event.policy}” succeeded on ${at}${event.bytes ? ` (${formatBytes(event.bytes)} of new data stored)` : ''}.`,
          '',
          ...runLine(f),
        ].join('\n'),
      }
    case 'schedule.missed':
      return {
        subject: `Backup missed its schedule: ${event.policy} (${f.tenant})`,
        body: [
          hello,
          '',
          `The backup of policy “${event.policy}” due on ${when(event.slot, f.timezone)} did not start on time: the panel’s runner was stopped or too busy.`,
          '',
          'What to do: the panel starts the backup now that it is running again; check the Overview in a few minutes. If this repeats, tell your administrator.',
          '',
          ...runLine(f),
        ].join('\n'),
      }
    case 'verify.failed':
      return {
        subject: `Verified restore failed: ${event.policy} (${f.tenant})`,
        body: [
          hello,
          '',
          `The check of the backups of policy “${event.policy}” failed on ${at}: the latest backup could not be restored as it should.`,
          '',
          `Reason: ${event.reason}`,
          '',
          'What to do: run a new backup with “Back up now” and open the run page below; if the check fails again, tell your administrator: the stored data may be damaged.',
          '',
          ...runLine(f),
        ].join('\n'),
      }
    case 'token.created':
    case 'token.reset': {
      const verb = event.type === 'token.created' ? 'created' : 'reset'
      // To the admins: the server's zone, named once, on the first time.
      const zone = serverZone()
      const active =
        event.activeFrom.getTime() <= f.at.getTime() + 1000
          ? 'It is valid now.'
          : `It becomes valid on ${dayTime(event.activeFrom, zone)} unless an admin allows it now (Admin > Tenants, or \`npx panel token allow-now ${f.tenant}\`).`
      return {
        subject: `Backup token ${verb} for ${f.tenant}`,
        body: [
          'Hello,',
          '',
          `${event.by} ${verb} the backup token of tenant “${f.tenant}” on ${when(f.at, zone)}. With it, and the tenant’s API key, the tenant’s backups can be downloaded.`,
          active,
          '',
          'What to do: nothing, if this was expected. If not, disable the tenant under Admin > Tenants and check the audit log.',
        ].join('\n'),
      }
    }
  }
}

/** The webhook's payload for `event` (token events have no webhook). */
export function payloadOf(event: NotifyEvent, tenant: string, at: Date): WebhookPayload {
  const base = { event: event.type, tenant, at: at.toISOString() }
  switch (event.type) {
    case 'backup.failed':
    case 'backup.partial':
    case 'verify.failed':
      return {
        ...base,
        policy: event.policy,
        runId: event.runId,
        status: event.type === 'backup.partial' ? 'partial' : 'failed',
        reason: event.reason,
      }
    case 'backup.recovered':
    case 'backup.success':
      return { ...base, policy: event.policy, runId: event.runId, status: 'success', reason: null }
    case 'schedule.missed':
      return {
        ...base,
        policy: event.policy,
        runId: null,
        status: 'missed',
        reason: `The slot of ${event.slot.toISOString()} did not start on time.`,
      }
    default:
      return { ...base, policy: null, runId: null, status: event.type, reason: null }
  }
}
