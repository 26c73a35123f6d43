/**
 * The PostgreSQL twin of `schema.ts` (issue 14): the same tables, SQL names, property names,
 * keys and indexes, so one set of query modules can serve either database. The meaning of each
 * table and column is documented once, in `schema.ts`; comments here only say why a type differs.
 * `test/unit/schema-match.test.ts` fails when the two files drift apart.
 *
 * The panel uses it when PANEL_DATABASE_URL is set (`useTablesOf` in schema.ts); its migrations
 * are generated into `drizzle/pg/` by `npm run db:generate` (drizzle-pg.config.ts).
 *
 * Type mapping: `timestamp_ms` integers are `timestamptz(3)` read as `Date`; booleans are
 * `boolean`; JSON text is `jsonb`; counts that can pass 2^31 (bytes, durations) are `bigint`
 * read as `number`; autoincrement keys are identity columns `BY DEFAULT`, which (like SQLite's
 * rowid) still accept an explicit id, so inserts type the same on both sides and rows can be
 * copied over with their ids.
 */
import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'

/** Millisecond precision with a time zone: what SQLite's `timestamp_ms` integers hold. */
const ms = (name: string) => timestamp(name, { mode: 'date', withTimezone: true, precision: 3 })
const id = () => integer('id').primaryKey().generatedByDefaultAsIdentity()
/**
 * SQLite's default is `unixepoch() * 1000`, never later than the clock. `now()` alone would be
 * rounded to the millisecond, up to half a millisecond past it: a row written and then compared
 * with `Date.now()` in the same millisecond looked as if made in the future (a notice not yet due).
 */
const nowMs = () => sql`date_trunc('milliseconds', now())`
const createdAt = () => ms('created_at').notNull().default(nowMs())
const updatedAt = () => ms('updated_at').notNull().default(nowMs())
/** Byte counts, sizes and durations in ms: past 2^31 they need bigint; JS numbers hold 2^53. */
const big = (name: string) => bigint(name, { mode: 'number' })

export const tenants = pgTable(
  'tenants',
  {
    id: id(),
    name: text('name').notNull().unique(),
    homeDir: text('home_dir').notNull(),
    systemUser: text('system_user'),
    timezone: text('timezone').notNull().default('UTC'),
    disabled: boolean('disabled').notNull().default(false),
    quotaBytes: big('quota_bytes'),
    quotaSnapshots: integer('quota_snapshots'),
    quotaRunsPerDay: integer('quota_runs_per_day'),
    notifyEmail: text('notify_email'),
    notifyMode: text('notify_mode', { enum: ['every', 'failures', 'never'] })
      .notNull()
      .default('failures'),
    webhookUrl: text('webhook_url'),
    webhookSecretSealed: text('webhook_secret_sealed'),
    plan: text('plan'),
    /**
     * The hosting node the tenant's files live on: only a runner started with `--node` of this
     * name runs its jobs. Null: the panel's own server (a runner started without `--node`).
     */
    node: text('node'),
    createdAt: createdAt(),
  },
  (t) => [
    index('tenants_disabled_idx').on(t.disabled),
    index('tenants_plan_idx').on(t.plan),
    index('tenants_node_idx').on(t.node),
  ],
)

export const providerDestinations = pgTable('provider_destinations', {
  id: id(),
  type: text('type').notNull(),
  name: text('name').notNull().unique(),
  settings: jsonb('settings').notNull().$type<Record<string, unknown>>(),
  secrets: text('secrets'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
})

export const providerPolicies = pgTable('provider_policies', {
  id: id(),
  name: text('name').notNull().unique(),
  scope: text('scope', { enum: ['all', 'plan'] }).notNull(),
  plan: text('plan'),
  includeHome: boolean('include_home').notNull().default(true),
  includeDatabases: boolean('include_databases').notNull().default(true),
  excludeGlobs: jsonb('exclude_globs').notNull().$type<string[]>(),
  windowStart: text('window_start').notNull(),
  windowEnd: text('window_end').notNull(),
  keepLast: integer('keep_last').notNull().default(0),
  keepDaily: integer('keep_daily').notNull().default(7),
  keepWeekly: integer('keep_weekly').notNull().default(4),
  keepMonthly: integer('keep_monthly').notNull().default(12),
  keepYearly: integer('keep_yearly').notNull().default(0),
  enabled: boolean('enabled').notNull().default(true),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
})

export const providerPolicyDestinations = pgTable(
  'provider_policy_destinations',
  {
    providerPolicyId: integer('provider_policy_id')
      .notNull()
      .references(() => providerPolicies.id, { onDelete: 'cascade' }),
    providerDestinationId: integer('provider_destination_id')
      .notNull()
      .references(() => providerDestinations.id, { onDelete: 'restrict' }),
  },
  (t) => [primaryKey({ columns: [t.providerPolicyId, t.providerDestinationId] })],
)

export const users = pgTable('users', {
  id: id(),
  username: text('username').notNull().unique(),
  passwordHash: text('password_hash'),
  role: text('role', { enum: ['admin', 'tenant'] }).notNull(),
  email: text('email'),
  tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
  createdAt: createdAt(),
})

export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: ms('expires_at').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
)

export const loginLinks = pgTable('login_links', {
  id: text('id').primaryKey(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  expiresAt: ms('expires_at').notNull(),
})

export const loginThrottle = pgTable('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  // SQLite's default is the integer 0: the Unix epoch.
  lastAt: ms('last_at')
    .notNull()
    .default(sql`to_timestamp(0)`),
})

export const tenantDatabases = pgTable(
  'tenant_databases',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    engine: text('engine', { enum: ['mariadb', 'postgresql'] }).notNull(),
    name: text('name').notNull(),
    host: text('host'),
    port: integer('port'),
    username: text('username'),
    passwordSealed: text('password_sealed'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('tenant_databases_uniq').on(t.tenantId, t.engine, t.name)],
)

export const destinations = pgTable(
  'destinations',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    name: text('name').notNull(),
    settings: jsonb('settings').notNull().$type<Record<string, unknown>>(),
    secrets: text('secrets'),
    providerDestinationId: integer('provider_destination_id').references(
      () => providerDestinations.id,
      { onDelete: 'cascade' },
    ),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('destinations_tenant_name').on(t.tenantId, t.name),
    index('destinations_provider_idx').on(t.providerDestinationId),
  ],
)

export const policies = pgTable(
  'policies',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    includeHome: boolean('include_home').notNull(),
    includeGlobs: jsonb('include_globs').notNull().$type<string[]>(),
    excludeGlobs: jsonb('exclude_globs').notNull().$type<string[]>(),
    includePanelSettings: boolean('include_panel_settings').notNull(),
    schedule: text('schedule').notNull(),
    timezone: text('timezone').notNull(),
    keepLast: integer('keep_last').notNull().default(0),
    keepDaily: integer('keep_daily').notNull().default(7),
    keepWeekly: integer('keep_weekly').notNull().default(4),
    keepMonthly: integer('keep_monthly').notNull().default(12),
    keepYearly: integer('keep_yearly').notNull().default(0),
    enabled: boolean('enabled').notNull().default(true),
    providerPolicyId: integer('provider_policy_id').references(() => providerPolicies.id, {
      onDelete: 'cascade',
    }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('policies_tenant_name').on(t.tenantId, t.name),
    uniqueIndex('policies_tenant_provider').on(t.tenantId, t.providerPolicyId),
  ],
)

export const policyDestinations = pgTable(
  'policy_destinations',
  {
    policyId: integer('policy_id')
      .notNull()
      .references(() => policies.id, { onDelete: 'cascade' }),
    destinationId: integer('destination_id')
      .notNull()
      .references(() => destinations.id, { onDelete: 'restrict' }),
  },
  (t) => [
    primaryKey({ columns: [t.policyId, t.destinationId] }),
    index('pd_dest_idx').on(t.destinationId),
  ],
)

export const policyDatabases = pgTable(
  'policy_databases',
  {
    policyId: integer('policy_id')
      .notNull()
      .references(() => policies.id, { onDelete: 'cascade' }),
    databaseId: integer('database_id')
      .notNull()
      .references(() => tenantDatabases.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.policyId, t.databaseId] })],
)

export const jobs = pgTable(
  'jobs',
  {
    id: id(),
    kind: text('kind', {
      enum: ['backup', 'restore', 'verify', 'rekey', 'sync-snapshots', 'index-snapshot'],
    }).notNull(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    payload: jsonb('payload').notNull().$type<Record<string, unknown>>(),
    status: text('status', { enum: ['queued', 'running', 'done', 'failed'] })
      .notNull()
      .default('queued'),
    runAt: ms('run_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    leaseOwner: text('lease_owner'),
    /** The node of the runner that claimed it last (null: the panel's own server). */
    node: text('node'),
    leaseExpiresAt: ms('lease_expires_at'),
    dedupeKey: text('dedupe_key'),
    lastError: text('last_error'),
    cancelRequestedAt: ms('cancel_requested_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('jobs_dedupe_key')
      .on(t.dedupeKey)
      .where(sql`status in ('queued', 'running')`),
    index('jobs_claim_idx').on(t.status, t.runAt),
    index('jobs_tenant_idx').on(t.tenantId, t.status),
  ],
)

export const runs = pgTable(
  'runs',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    number: integer('number').notNull().default(0),
    jobId: integer('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    /** The node whose runner ran it (null: the panel's own server). */
    node: text('node'),
    policyId: integer('policy_id').references(() => policies.id, { onDelete: 'set null' }),
    policyName: text('policy_name'),
    kind: text('kind', { enum: ['backup', 'restore', 'verify', 'rekey'] }).notNull(),
    trigger: text('trigger', { enum: ['schedule', 'manual', 'cli', 'api'] }).notNull(),
    status: text('status', {
      enum: ['queued', 'running', 'success', 'partial', 'failed', 'interrupted', 'cancelled'],
    }).notNull(),
    progress: jsonb('progress').$type<Record<string, unknown>>(),
    error: text('error'),
    bytes: big('bytes'),
    startedAt: ms('started_at'),
    finishedAt: ms('finished_at'),
    createdAt: createdAt(),
  },
  (t) => [
    index('runs_tenant_idx').on(t.tenantId, t.id),
    index('runs_tenant_number_idx').on(t.tenantId, t.number),
    index('runs_policy_idx').on(t.policyId, t.id),
    index('runs_tenant_kind_status_idx').on(t.tenantId, t.kind, t.status, t.id),
    index('runs_job_idx').on(t.jobId, t.id),
  ],
)

export const runStages = pgTable(
  'run_stages',
  {
    id: id(),
    runId: integer('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    destinationId: integer('destination_id').references(() => destinations.id, {
      onDelete: 'set null',
    }),
    status: text('status', {
      enum: ['pending', 'running', 'success', 'partial', 'failed', 'skipped'],
    }).notNull(),
    message: text('message'),
    bytes: big('bytes'),
    snapshotId: text('snapshot_id'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    startedAt: ms('started_at'),
    finishedAt: ms('finished_at'),
  },
  (t) => [index('run_stages_run_idx').on(t.runId)],
)

export const runLogs = pgTable(
  'run_logs',
  {
    id: id(),
    runId: integer('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    at: ms('at').notNull(),
    level: text('level', { enum: ['info', 'warn', 'error'] }).notNull(),
    message: text('message').notNull(),
  },
  (t) => [index('run_logs_run_idx').on(t.runId, t.id)],
)

export const repositories = pgTable(
  'repositories',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    destinationId: integer('destination_id')
      .notNull()
      .references(() => destinations.id, { onDelete: 'cascade' }),
    passwordSealed: text('password_sealed').notNull(),
    initializedAt: ms('initialized_at'),
    prunedAt: ms('pruned_at'),
    storedBytes: big('stored_bytes'),
    snapshotCount: integer('snapshot_count'),
    statsAt: ms('stats_at'),
    snapshotsSyncedAt: ms('snapshots_synced_at'),
    quickKeyAt: ms('quick_key_at'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('repositories_destination').on(t.destinationId)],
)

export const snapshots = pgTable(
  'snapshots',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    destinationId: integer('destination_id')
      .notNull()
      .references(() => destinations.id, { onDelete: 'cascade' }),
    snapshotId: text('snapshot_id').notNull(),
    time: ms('time').notNull(),
    tags: jsonb('tags').notNull().$type<string[]>(),
    paths: jsonb('paths').notNull().$type<string[]>(),
    kind: text('kind', { enum: ['policy', 'safety', 'other'] }).notNull(),
    policyId: integer('policy_id'),
    complete: boolean('complete').notNull(),
    databases: jsonb('databases').notNull().$type<string[]>(),
    bytes: big('bytes'),
    files: integer('files'),
    runId: integer('run_id'),
    indexedAt: ms('indexed_at'),
    indexUsedAt: ms('index_used_at'),
  },
  (t) => [
    uniqueIndex('snapshots_dest_snapshot').on(t.destinationId, t.snapshotId),
    index('snapshots_tenant_time_idx').on(t.tenantId, t.time),
  ],
)

export const snapshotFiles = pgTable(
  'snapshot_files',
  {
    snapshotRowId: integer('snapshot_row_id')
      .notNull()
      .references(() => snapshots.id, { onDelete: 'cascade' }),
    parent: text('parent').notNull(),
    name: text('name').notNull(),
    type: text('type', { enum: ['dir', 'file', 'symlink', 'other'] }).notNull(),
    size: big('size').notNull(),
    mtime: ms('mtime'),
    lossy: boolean('lossy').notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.snapshotRowId, t.parent, t.name] })],
)

export const scheduleState = pgTable('schedule_state', {
  policyId: integer('policy_id')
    .primaryKey()
    .references(() => policies.id, { onDelete: 'cascade' }),
  lastSlotAt: ms('last_slot_at'),
  missedCount: integer('missed_count').notNull().default(0),
  lastMissedAt: ms('last_missed_at'),
  lastCheckAt: ms('last_check_at'),
  lastTestRestoreAt: ms('last_test_restore_at'),
})

export const panelSettings = pgTable('panel_settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull().$type<unknown>(),
})

export const runnerSettings = pgTable('runner_settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})

export const runnerHeartbeats = pgTable('runner_heartbeats', {
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  concurrency: integer('concurrency').notNull(),
  /** The node name the runner was started with (`--node`); null: the panel's own server. */
  node: text('node'),
  startedAt: ms('started_at').notNull(),
  lastSeen: ms('last_seen').notNull(),
})

export const downloadSlots = pgTable(
  'download_slots',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    holder: text('holder').notNull(),
    expiresAt: ms('expires_at').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('download_slots_tenant_idx').on(t.tenantId, t.expiresAt)],
)

export const tenantHealth = pgTable(
  'tenant_health',
  {
    tenantId: integer('tenant_id')
      .primaryKey()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    lastRunId: integer('last_run_id'),
    lastRunStatus: text('last_run_status'),
    lastRunAt: ms('last_run_at'),
    lastSuccessAt: ms('last_success_at'),
    failingStreak: integer('failing_streak').notNull().default(0),
    lastError: text('last_error'),
    missedCount: integer('missed_count').notNull().default(0),
    storedBytes: big('stored_bytes').notNull().default(0),
    snapshotCount: integer('snapshot_count').notNull().default(0),
    nextRunAt: ms('next_run_at'),
    lastVerifiedAt: ms('last_verified_at'),
    lastVerifiedOk: boolean('last_verified_ok'),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('tenant_health_success_idx').on(t.lastSuccessAt),
    index('tenant_health_streak_idx').on(t.failingStreak),
    index('tenant_health_bytes_idx').on(t.storedBytes),
    index('tenant_health_next_idx').on(t.nextRunAt),
    index('tenant_health_verified_idx').on(t.lastVerifiedAt),
    index('tenant_health_missed_idx').on(t.missedCount),
  ],
)

export const verifications = pgTable(
  'verifications',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    policyId: integer('policy_id').references(() => policies.id, { onDelete: 'set null' }),
    destinationId: integer('destination_id').references(() => destinations.id, {
      onDelete: 'set null',
    }),
    runId: integer('run_id').references(() => runs.id, { onDelete: 'set null' }),
    mode: text('mode', { enum: ['check', 'restore'] }).notNull(),
    snapshotId: text('snapshot_id'),
    ok: boolean('ok').notNull(),
    durationMs: big('duration_ms').notNull(),
    message: text('message'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [
    index('verifications_tenant_idx').on(t.tenantId, t.id),
    index('verifications_policy_idx').on(t.policyId, t.id),
  ],
)

export const backupTokens = pgTable('backup_tokens', {
  tenantId: integer('tenant_id')
    .primaryKey()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
  tokenHash: text('token_hash').notNull(),
  activeFrom: ms('active_from').notNull(),
  createdAt: createdAt(),
})

export const apiKeys = pgTable(
  'api_keys',
  {
    id: id(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    keyHash: text('key_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    lastUsedAt: ms('last_used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('api_keys_tenant_idx').on(t.tenantId)],
)

export const auditLog = pgTable(
  'audit_log',
  {
    id: id(),
    at: ms('at').notNull().default(nowMs()),
    userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
    actor: text('actor').notNull(),
    tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
    action: text('action').notNull(),
    target: text('target'),
    ip: text('ip'),
    details: jsonb('details').$type<Record<string, unknown>>(),
  },
  (t) => [
    index('audit_tenant_idx').on(t.tenantId, t.id),
    index('audit_action_idx').on(t.action, t.id),
    index('audit_at_idx').on(t.at),
  ],
)

export const notifications = pgTable(
  'notifications',
  {
    id: id(),
    tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
    channel: text('channel', { enum: ['email', 'webhook'] }).notNull(),
    recipient: text('recipient').notNull(),
    event: text('event').notNull(),
    subject: text('subject').notNull(),
    body: text('body').notNull(),
    status: text('status', { enum: ['pending', 'sent', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    createdAt: createdAt(),
    sentAt: ms('sent_at'),
  },
  (t) => [
    index('notifications_status_idx').on(t.status, t.id),
    index('notifications_tenant_idx').on(t.tenantId, t.id),
  ],
)
