import { dayTime } from '../src/zoned.ts'

// Audit entries told as sentences ("You signed in from 203.0.113.7") instead of their stored
// verbs (`login.ok`). One entry per action the code records; anything else falls back to a
// plain sentence naming the verb, so a new action never shows up blank.

/** What a sentence needs of an audit entry. */
export type AuditFacts = {
  actor: string
  action: string
  userId: number | null
  target: string | null
  ip: string | null
  details: Record<string, unknown> | null
  tenantName?: string | null
}

/** Who reads the log: an admin (everything), or a tenant user (`viewerId`). */
export type AuditReader = { admin: boolean; viewerId?: number; zone: string }

type Said = {
  /** "You", "alice", "The panel"… */
  who: string
  /** “Nightly”, quoted, or '' when the entry names nothing. */
  what: string
  /** " from 203.0.113.7", or '' when no address was recorded or it is not the reader's to see. */
  from: string
  d: Record<string, unknown>
  e: AuditFacts
  r: AuditReader
}

const TYPES: Record<string, string> = {
  local: 'Local',
  s3: 'S3',
  sftp: 'SSH/SFTP',
  webdav: 'WebDAV',
  dropbox: 'Dropbox',
  azure: 'Azure Blob',
}

const quote = (s: unknown) => `“${String(s)}”`
const plural = (n: unknown, one: string) => `${n} ${one}${Number(n) === 1 ? '' : 's'}`
const typeOf = (d: Record<string, unknown>) =>
  d.type ? ` (${TYPES[String(d.type)] ?? d.type})` : ''
const okOr = (d: Record<string, unknown>, ok: string, bad: string) => (d.ok === false ? bad : ok)
const renamed = (d: Record<string, unknown>) =>
  d.renamedFrom ? ` (renamed from ${quote(d.renamedFrom)})` : ''
const FIELD_WORDS: Record<string, string> = {
  homeDir: 'home folder',
  systemUser: 'system user',
  timezone: 'time zone',
  node: 'node',
}
/** ": home folder, password", from the names of the fields that changed. */
const changed = (d: Record<string, unknown>) =>
  Array.isArray(d.changed) && d.changed.length
    ? `: ${d.changed
        .map(
          (f) =>
            FIELD_WORDS[String(f)] ??
            String(f)
              .replace(/([a-z])([A-Z])/g, '$1 $2')
              .toLowerCase(),
        )
        .join(', ')}`
    : ''

/** "the database “shop”", "public_html/index.php", "everything". */
function restored(d: Record<string, unknown>): string {
  if (d.database) return `the database ${quote(d.database)}`
  const paths = Array.isArray(d.paths) ? (d.paths as string[]) : []
  if (!paths.length || paths[0] === '(everything)') return 'everything'
  const more = Number(d.morePaths ?? 0) + paths.length - 1
  return more > 0 ? `${paths[0]} and ${plural(more, 'other path')}` : String(paths[0])
}

/** " from the backup 19982bc4 on “Here”". */
function fromBackup(s: Said, id: unknown): string {
  const short = id ? ` ${String(id).slice(0, 8)}` : ''
  const where = s.d.destination ? ` on ${quote(s.d.destination)}` : ''
  return ` from the backup${short}${where}`
}

const VERIFY_KIND = (d: Record<string, unknown>) =>
  d.mode === 'restore' ? 'a test restore' : 'a data check'

const SENTENCES: Record<string, (s: Said) => string> = {
  'login.ok': (s) => `${s.who} signed in${s.from}`,
  'login.failed': (s) => {
    const reason = String(s.d.reason ?? '')
    const why =
      reason === 'wrong password'
        ? 'wrong password'
        : reason === 'disabled'
          ? 'the account is disabled'
          : reason === 'throttled'
            ? 'too many attempts, asked to wait'
            : reason === 'unknown user'
              ? 'no account has that name'
              : reason
    const whose =
      s.r.viewerId !== undefined && s.e.userId === s.r.viewerId
        ? 'A sign-in to your account'
        : s.e.userId === null
          ? 'A sign-in with an unknown name'
          : `A sign-in as ${s.e.actor}`
    return `${whose} failed${why ? ` (${why})` : ''}${s.from}`
  },
  'login.link': (s) => `${s.who} set a password with a one-time sign-in link${s.from}`,
  logout: (s) => `${s.who} signed out${s.from}`,
  'destination.create': (s) => `${s.who} added the destination ${s.what}${typeOf(s.d)}`,
  'destination.update': (s) => `${s.who} changed the destination ${s.what}`,
  'destination.test': (s) =>
    `${s.who} tested the connection to ${s.what || 'a new destination'}: ${okOr(s.d, 'it worked', 'it failed')}`,
  'destination.delete': (s) => `${s.who} deleted the destination ${s.what}`,
  'policy.create': (s) => `${s.who} created the policy ${s.what}`,
  'policy.update': (s) => `${s.who} changed the policy ${s.what}${renamed(s.d)}`,
  'policy.delete': (s) => `${s.who} deleted the policy ${s.what}`,
  'backup.request': (s) =>
    `${s.who} asked for a backup of ${s.what}${s.d.queued === false || s.d.created === false ? ' (one was already waiting)' : ''}`,
  'verify.request': (s) =>
    s.e.target
      ? `${s.who} asked for ${VERIFY_KIND(s.d)} of ${s.what}`
      : `${s.who} asked for ${VERIFY_KIND(s.d)} of every backup`,
  'restore.start': (s) =>
    `${s.who} started restoring ${restored(s.d)}${fromBackup(s, s.d.snapshot ?? s.e.target)}, ${
      s.d.to === '(in place)' ? 'in place' : `into ${quote(s.d.to)}`
    }`,
  download: (s) =>
    `${s.who} downloaded ${s.d.database ? `the database ${quote(s.d.database)}` : s.d.path && s.d.path !== '/' ? String(s.d.path) : 'all files'}${fromBackup(s, s.d.snapshot)}`,
  'snapshot.download': (s) =>
    `${s.who} downloaded ${s.d.path && s.d.path !== '/' ? String(s.d.path) : 'all files'}${fromBackup(s, s.e.target)}`,
  'recovery.view': (s) => `${s.who} viewed the recovery kit of ${s.what}`,
  'recovery.denied': (s) =>
    `Recovery kit of ${s.what} not shown: the password was re-entered wrongly${s.from}`,
  'recovery.escrow': (s) =>
    `${s.who} exported ${plural(s.d.repositories ?? '?', 'recovery kit')}, sealed to an age key`,
  'repository.rekey': (s) =>
    s.d.result
      ? `The password of the backup storage ${s.what} was changed: ${s.d.result === 'changed' ? 'done' : s.d.result}`
      : `${s.who} asked to change the password of the backup storage ${s.what}`,
  'token.create': (s) =>
    `${s.who} created the backup token${s.d.delayed && s.d.activeFrom ? `; it works from ${dayTime(String(s.d.activeFrom), s.r.zone)}` : ''}`,
  'token.reset': (s) =>
    `${s.who} reset the backup token${s.d.delayed && s.d.activeFrom ? `; the new one works from ${dayTime(String(s.d.activeFrom), s.r.zone)}` : ''}`,
  'token.allow_now': (s) => `${s.who} let the backup token work at once`,
  'apikey.create': (s) => `${s.who} created the API key ${s.what}`,
  'apikey.revoke': (s) => `${s.who} revoked the API key ${s.what}`,
  'notifications.update': (s) =>
    `${s.who} changed the notification settings${
      s.d.mode
        ? ` (${s.d.mode === 'every' ? 'every run' : s.d.mode === 'never' ? 'never' : 'failures only'})`
        : ''
    }`,
  'job.cancel': (s) => `${s.who} cancelled ${s.e.target ?? 'a job'}`,
  'tenant.create': (s) => `${s.who} added the tenant ${s.what}`,
  'tenant.update': (s) => `${s.who} changed the tenant ${s.what}${changed(s.d)}`,
  'tenant.disable': (s) => `${s.who} disabled the tenant ${s.what}`,
  'tenant.enable': (s) => `${s.who} enabled the tenant ${s.what}`,
  'tenant.remove': (s) => `${s.who} removed the tenant ${s.what}`,
  'tenant.limits': (s) => `${s.who} changed the limits of ${s.what}`,
  'database.assign': (s) =>
    `${s.who} assigned the database ${s.what}${s.d.tenant ? ` to ${quote(s.d.tenant)}` : ''}`,
  'database.remove': (s) =>
    `${s.who} took the database ${s.what}${s.d.tenant ? ` from ${quote(s.d.tenant)}` : ''}`,
  'settings.update': (s) => `${s.who} changed the policy limits${changed(s.d)}`,
  'admin.email': (s) =>
    `${s.who} ${s.d.set === false ? 'removed' : 'set'} their e-mail address for notices`,
  'admin.create': (s) => `${s.who} created the admin ${s.what}`,
  'admin.link': (s) => `${s.who} made a one-time sign-in link for ${s.what}`,
  'provider-destination.create': (s) =>
    `${s.who} added the host destination ${s.what}${typeOf(s.d)}`,
  'provider-destination.update': (s) => `${s.who} changed the host destination ${s.what}`,
  'provider-destination.test': (s) =>
    `${s.who} tested the connection to the host destination ${s.what || '(new)'}: ${okOr(s.d, 'it worked', 'it failed')}`,
  'provider-destination.delete': (s) => `${s.who} deleted the host destination ${s.what}`,
  'provider-policy.create': (s) =>
    `${s.who} created the host backup policy ${s.what}${s.d.tenants !== undefined ? ` for ${plural(s.d.tenants, 'tenant')}` : ''}`,
  'provider-policy.update': (s) =>
    `${s.who} changed the host backup policy ${s.what}${renamed(s.d)}`,
  'provider-policy.delete': (s) => `${s.who} deleted the host backup policy ${s.what}`,
  'runner.pause': (s) => `${s.who} paused the runner`,
  'runner.resume': (s) => `${s.who} resumed the runner`,
  'runner.concurrency': (s) =>
    `${s.who} changed how many jobs run at once from ${s.d.from} to ${s.d.to}`,
  'runner.upload-limit': (s) => `${s.who} changed the upload limit from ${s.d.from} to ${s.d.to}`,
  'panel.self-backup': (s) =>
    s.d.ok === false
      ? `The panel backup to ${s.what || 'its destination'} failed${s.d.error ? `: ${s.d.error}` : ''}`
      : s.d.trigger === 'web'
        ? `${s.who} started a panel backup to ${s.what}`
        : `${s.who} backed up the panel to ${s.what}`,
  'panel.self-backup.settings': (s) =>
    `${s.who} ${s.d.enabled === false ? 'turned off the daily panel backup' : `set the daily panel backup${s.d.time ? ` to ${s.d.time}` : ''}`}`,
  'panel.self-backup.password': (s) => `${s.who} showed the panel backup password`,
  'panel.self-restore': (s) => `${s.who} restored the panel from ${s.what}`,
}

/** Sign-ins with other services: "dropbox.connect" and any type added later. */
function connectSentence(s: Said): string | undefined {
  const m = /^([a-z0-9-]+)\.connect$/.exec(s.e.action)
  if (!m) return undefined
  return `${s.who} connected ${s.what || 'a destination'} to ${TYPES[m[1]!] ?? m[1]}`
}

/** Whether `action` has a sentence of its own (the rest get the fallback). */
export function hasSentence(action: string): boolean {
  return action in SENTENCES || /^[a-z0-9-]+\.connect$/.test(action)
}

function subject(e: AuditFacts, r: AuditReader): string {
  if (r.viewerId !== undefined && e.userId === r.viewerId) return 'You'
  if (e.actor === 'runner') return 'The panel'
  if (e.actor === 'cli') return r.admin ? 'The command line' : 'Your host (command line)'
  if (e.actor.startsWith('api:')) return `The API key ${e.actor.slice(4)}…`
  if (e.actor === '(unknown user)' || e.actor === '(blank)') return 'Someone'
  // A tenant has one account: anyone else acting on their log is the host's admin.
  return r.admin ? e.actor : `Your host (${e.actor})`
}

/** One audit entry as a sentence, e.g. "You signed in from 203.0.113.7". */
export function auditSentence(e: AuditFacts, r: AuditReader): string {
  // A tenant sees their own addresses and the command line's (none), never an admin's.
  const showIp =
    e.ip && e.ip !== 'unknown' && (r.admin || e.userId === null || e.userId === r.viewerId)
  const s: Said = {
    who: subject(e, r),
    what: e.target ? quote(e.target) : '',
    from: showIp ? ` from ${e.ip}` : '',
    d: e.details ?? {},
    e,
    r,
  }
  const say = SENTENCES[e.action] ?? connectSentence
  const text =
    say(s) ?? `${s.who}: ${e.action.replace(/[._-]/g, ' ')}${s.what ? ` ${s.what}` : ''}${s.from}`
  return text.endsWith('.') ? text : `${text}.`
}
