import { sql } from 'drizzle-orm'
import { integer, primaryKey, sqliteTable, text, uniqueIndex, index } from 'drizzle-orm/sqlite-core'

const now = sql`(unixepoch() * 1000)`
const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now)

export const tenants = sqliteTable(
  'tenants',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull().unique(),
    homeDir: text('home_dir').notNull(),
    systemUser: text('system_user'),
    timezone: text('timezone').notNull().default('UTC'),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    /** Per-tenant limits set by the admin; null means the panel-wide default (Policy limits). */
    quotaBytes: integer('quota_bytes'),
    quotaSnapshots: integer('quota_snapshots'),
    quotaRunsPerDay: integer('quota_runs_per_day'),
    /** Where notices go and when: every run, failures only (default), or never. */
    notifyEmail: text('notify_email'),
    notifyMode: text('notify_mode', { enum: ['every', 'failures', 'never'] })
      .notNull()
      .default('failures'),
    /** Webhook for run results: JSON POSTed through the outbound guard, HMAC-SHA256 signed. */
    webhookUrl: text('webhook_url'),
    webhookSecretSealed: text('webhook_secret_sealed'),
    /** The hosting plan or group the admin put the tenant in; provider policies can target it. */
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

/**
 * The host's own storage, added by an admin (Admin > Destinations). Tenants never see these
 * settings: each tenant backed up there gets a copy in `destinations` (providerDestinationId),
 * whose driver roots it at the tenant's own prefix, with the tenant's own repository password.
 */
export const providerDestinations = sqliteTable('provider_destinations', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  type: text('type').notNull(),
  name: text('name').notNull().unique(),
  settings: text('settings', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
  /** Secret settings, JSON sealed under the master key (context `provider-destination:<id>`). */
  secrets: text('secrets'),
  createdAt: createdAt(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
})

/**
 * A backup the host runs for every tenant (`scope` all) or the tenants of one plan (`scope`
 * plan). Each matching tenant gets a read-only copy in `policies` (providerPolicyId) scheduled
 * daily at its own minute inside [windowStart, windowEnd) in the server's time zone.
 */
export const providerPolicies = sqliteTable('provider_policies', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  scope: text('scope', { enum: ['all', 'plan'] }).notNull(),
  plan: text('plan'),
  includeHome: integer('include_home', { mode: 'boolean' }).notNull().default(true),
  /** Every database assigned to the tenant, now and later. */
  includeDatabases: integer('include_databases', { mode: 'boolean' }).notNull().default(true),
  excludeGlobs: text('exclude_globs', { mode: 'json' }).notNull().$type<string[]>(),
  /** `HH:MM`, server time zone; an end before the start crosses midnight. */
  windowStart: text('window_start').notNull(),
  windowEnd: text('window_end').notNull(),
  keepLast: integer('keep_last').notNull().default(0),
  keepDaily: integer('keep_daily').notNull().default(7),
  keepWeekly: integer('keep_weekly').notNull().default(4),
  keepMonthly: integer('keep_monthly').notNull().default(12),
  keepYearly: integer('keep_yearly').notNull().default(0),
  enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
  createdAt: createdAt(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
})

/** A provider destination in use by a provider policy cannot be deleted. */
export const providerPolicyDestinations = sqliteTable(
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

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  username: text('username').notNull().unique(),
  /** argon2id PHC string; null until the account sets a password (one-time link). */
  passwordHash: text('password_hash'),
  role: text('role', { enum: ['admin', 'tenant'] }).notNull(),
  /** Where admins get backup-token and failure notices. */
  email: text('email'),
  tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
  createdAt: createdAt(),
})

export const sessions = sqliteTable(
  'sessions',
  {
    /** SHA-256 (hex) of the session token; the token itself is never stored. */
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
)

/** One-time sign-in links (first admin start); only the token's hash is stored. */
export const loginLinks = sqliteTable('login_links', {
  id: text('id').primaryKey(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
})

/**
 * Sign-in attempts per (account, address), per address and per account (auth/throttle.ts): how
 * many failed in a row and when the last one was counted. Account names are stored hashed.
 */
export const loginThrottle = sqliteTable('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  lastAt: integer('last_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`0`),
})

export const tenantDatabases = sqliteTable(
  'tenant_databases',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    engine: text('engine', { enum: ['mariadb', 'postgresql'] }).notNull(),
    name: text('name').notNull(),
    /** Connection for dumps; null host means the local socket. */
    host: text('host'),
    port: integer('port'),
    username: text('username'),
    /** Password sealed with the master key; passed to dump tools by option file or env only. */
    passwordSealed: text('password_sealed'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('tenant_databases_uniq').on(t.tenantId, t.engine, t.name)],
)

export const destinations = sqliteTable(
  'destinations',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    name: text('name').notNull(),
    /** Non-secret settings as JSON. */
    settings: text('settings', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
    /** Secret settings, JSON sealed with AES-256-GCM under the master key. */
    secrets: text('secrets'),
    /** Set on a tenant's copy of the host's destination: read-only for the tenant. */
    providerDestinationId: integer('provider_destination_id').references(
      () => providerDestinations.id,
      { onDelete: 'cascade' },
    ),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (t) => [
    uniqueIndex('destinations_tenant_name').on(t.tenantId, t.name),
    index('destinations_provider_idx').on(t.providerDestinationId),
  ],
)

export const policies = sqliteTable(
  'policies',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    includeHome: integer('include_home', { mode: 'boolean' }).notNull(),
    includeGlobs: text('include_globs', { mode: 'json' }).notNull().$type<string[]>(),
    excludeGlobs: text('exclude_globs', { mode: 'json' }).notNull().$type<string[]>(),
    includePanelSettings: integer('include_panel_settings', { mode: 'boolean' }).notNull(),
    /** Five-field cron expression, evaluated in `timezone`. */
    schedule: text('schedule').notNull(),
    timezone: text('timezone').notNull(),
    keepLast: integer('keep_last').notNull().default(0),
    keepDaily: integer('keep_daily').notNull().default(7),
    keepWeekly: integer('keep_weekly').notNull().default(4),
    keepMonthly: integer('keep_monthly').notNull().default(12),
    keepYearly: integer('keep_yearly').notNull().default(0),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    /** Set on a tenant's copy of a provider policy: shown as "Provided by your host", read-only. */
    providerPolicyId: integer('provider_policy_id').references(() => providerPolicies.id, {
      onDelete: 'cascade',
    }),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (t) => [
    uniqueIndex('policies_tenant_name').on(t.tenantId, t.name),
    uniqueIndex('policies_tenant_provider').on(t.tenantId, t.providerPolicyId),
  ],
)

/** A destination in use by a policy cannot be deleted (no cascade on purpose). */
export const policyDestinations = sqliteTable(
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

export const policyDatabases = sqliteTable(
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

/**
 * The job queue (graphile-worker style): claimed atomically, leased, retried with backoff.
 * `dedupeKey` is unique among queued and running jobs, so two triggers of the same policy at
 * once give one job.
 */
export const jobs = sqliteTable(
  'jobs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    kind: text('kind', {
      enum: ['backup', 'restore', 'verify', 'rekey', 'sync-snapshots', 'index-snapshot'],
    }).notNull(),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    payload: text('payload', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
    status: text('status', { enum: ['queued', 'running', 'done', 'failed'] })
      .notNull()
      .default('queued'),
    runAt: integer('run_at', { mode: 'timestamp_ms' }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    leaseOwner: text('lease_owner'),
    /** The node of the runner that claimed it last (null: the panel's own server). */
    node: text('node'),
    leaseExpiresAt: integer('lease_expires_at', { mode: 'timestamp_ms' }),
    dedupeKey: text('dedupe_key'),
    lastError: text('last_error'),
    /** The tenant asked to cancel this running job; the runner running it stops it. */
    cancelRequestedAt: integer('cancel_requested_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (t) => [
    uniqueIndex('jobs_dedupe_key')
      .on(t.dedupeKey)
      .where(sql`status in ('queued', 'running')`),
    index('jobs_claim_idx').on(t.status, t.runAt),
    index('jobs_tenant_idx').on(t.tenantId, t.status),
  ],
)

/** One attempt-independent record of a backup/restore/verify, shown in run history. */
export const runs = sqliteTable(
  'runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** The tenant's own run number (1, 2, 3…), shown instead of the id, which counts every tenant. */
    number: integer('number').notNull().default(0),
    jobId: integer('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    /** The node whose runner ran it (null: the panel's own server). */
    node: text('node'),
    policyId: integer('policy_id').references(() => policies.id, { onDelete: 'set null' }),
    /** The policy's name when the run started: still shown once the policy is deleted. */
    policyName: text('policy_name'),
    kind: text('kind', { enum: ['backup', 'restore', 'verify', 'rekey'] }).notNull(),
    trigger: text('trigger', { enum: ['schedule', 'manual', 'cli', 'api'] }).notNull(),
    /** 'cancelled': the tenant cancelled it (queued or running); neither a success nor a failure. */
    status: text('status', {
      enum: ['queued', 'running', 'success', 'partial', 'failed', 'interrupted', 'cancelled'],
    }).notNull(),
    /** Live progress while running: { percent, filesDone, totalFiles, bytesDone, totalBytes, stage }. */
    progress: text('progress', { mode: 'json' }).$type<Record<string, unknown>>(),
    /** Plain-words reason when not green. */
    error: text('error'),
    bytes: integer('bytes'),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
  },
  (t) => [
    index('runs_tenant_idx').on(t.tenantId, t.id),
    index('runs_tenant_number_idx').on(t.tenantId, t.number),
    index('runs_policy_idx').on(t.policyId, t.id),
    // Tenant health: the last success and the failing streak without walking a long history.
    index('runs_tenant_kind_status_idx').on(t.tenantId, t.kind, t.status, t.id),
    // A job's runs: `--wait`, the API's job status, the Runner page, interrupted attempts.
    index('runs_job_idx').on(t.jobId, t.id),
  ],
)

/** Each stage of a run (dump, snapshot, retention, restore…), per destination where it applies. */
export const runStages = sqliteTable(
  'run_stages',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    bytes: integer('bytes'),
    snapshotId: text('snapshot_id'),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
  },
  (t) => [index('run_stages_run_idx').on(t.runId)],
)

/** Log lines of a run; never secrets, never file contents. */
export const runLogs = sqliteTable(
  'run_logs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: integer('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    level: text('level', { enum: ['info', 'warn', 'error'] }).notNull(),
    message: text('message').notNull(),
  },
  (t) => [index('run_logs_run_idx').on(t.runId, t.id)],
)

/** A restic repository: one per tenant and destination, password sealed under the master key. */
export const repositories = sqliteTable(
  'repositories',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    destinationId: integer('destination_id')
      .notNull()
      .references(() => destinations.id, { onDelete: 'cascade' }),
    passwordSealed: text('password_sealed').notNull(),
    initializedAt: integer('initialized_at', { mode: 'timestamp_ms' }),
    /** Last `restic prune`: forgotten data is reclaimed at most daily, not after every backup. */
    prunedAt: integer('pruned_at', { mode: 'timestamp_ms' }),
    /** Size on the destination and snapshot count after the last backup (restic stats). */
    storedBytes: integer('stored_bytes'),
    snapshotCount: integer('snapshot_count'),
    statsAt: integer('stats_at', { mode: 'timestamp_ms' }),
    /** Last full sync of the snapshot catalog with `restic snapshots`. */
    snapshotsSyncedAt: integer('snapshots_synced_at', { mode: 'timestamp_ms' }),
    /** When its key file's scrypt cost was checked and made cheap (panel-made passwords; quick-key.ts). */
    quickKeyAt: integer('quick_key_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('repositories_destination').on(t.destinationId)],
)

/**
 * The panel's catalog of each repository's snapshots, so pages and `latest` never wait on restic.
 * The runner records what it makes and forgets; a sync with `restic snapshots` fills in the rest.
 */
export const snapshots = sqliteTable(
  'snapshots',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    destinationId: integer('destination_id')
      .notNull()
      .references(() => destinations.id, { onDelete: 'cascade' }),
    /** restic's full snapshot id (64 hex). */
    snapshotId: text('snapshot_id').notNull(),
    time: integer('time', { mode: 'timestamp_ms' }).notNull(),
    tags: text('tags', { mode: 'json' }).notNull().$type<string[]>(),
    paths: text('paths', { mode: 'json' }).notNull().$type<string[]>(),
    /** 'policy': a backup of a policy; 'safety': taken before a restore in place; 'other'. */
    kind: text('kind', { enum: ['policy', 'safety', 'other'] }).notNull(),
    policyId: integer('policy_id'),
    /** Every stage that fed it succeeded (all dumps, no unreadable file): `latest` picks only these. */
    complete: integer('complete', { mode: 'boolean' }).notNull(),
    /** `<engine>-<name>` of each database whose good dump the snapshot holds. */
    databases: text('databases', { mode: 'json' }).notNull().$type<string[]>(),
    /** Bytes of the files it holds (restic's total processed), when known. */
    bytes: integer('bytes'),
    files: integer('files'),
    runId: integer('run_id'),
    /** When the file index (snapshot_files) was built, and last used (oldest indexes are dropped). */
    indexedAt: integer('indexed_at', { mode: 'timestamp_ms' }),
    indexUsedAt: integer('index_used_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    uniqueIndex('snapshots_dest_snapshot').on(t.destinationId, t.snapshotId),
    index('snapshots_tenant_time_idx').on(t.tenantId, t.time),
  ],
)

/** One row per node of an indexed snapshot (`restic ls --json`), for browsing and search. */
export const snapshotFiles = sqliteTable(
  'snapshot_files',
  {
    snapshotRowId: integer('snapshot_row_id')
      .notNull()
      .references(() => snapshots.id, { onDelete: 'cascade' }),
    parent: text('parent').notNull(),
    name: text('name').notNull(),
    type: text('type', { enum: ['dir', 'file', 'symlink', 'other'] }).notNull(),
    size: integer('size').notNull(),
    mtime: integer('mtime', { mode: 'timestamp_ms' }),
    /** The name was not valid UTF-8: restic printed U+FFFD for its bytes. */
    lossy: integer('lossy', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.snapshotRowId, t.parent, t.name] })],
)

/** Scheduler bookkeeping per policy: the last slot turned into a job, and missed slots. */
export const scheduleState = sqliteTable('schedule_state', {
  policyId: integer('policy_id')
    .primaryKey()
    .references(() => policies.id, { onDelete: 'cascade' }),
  lastSlotAt: integer('last_slot_at', { mode: 'timestamp_ms' }),
  missedCount: integer('missed_count').notNull().default(0),
  lastMissedAt: integer('last_missed_at', { mode: 'timestamp_ms' }),
  /** Last weekly `restic check --read-data-subset` and last monthly test restore, enqueued. */
  lastCheckAt: integer('last_check_at', { mode: 'timestamp_ms' }),
  lastTestRestoreAt: integer('last_test_restore_at', { mode: 'timestamp_ms' }),
})

/** Admin settings for the whole panel (allowed destination types, outbound allowlist), JSON values. */
export const panelSettings = sqliteTable('panel_settings', {
  key: text('key').primaryKey(),
  value: text('value', { mode: 'json' }).notNull().$type<unknown>(),
})

/** Runner-wide settings shared by every runner process (pause flag, concurrency). */
export const runnerSettings = sqliteTable('runner_settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
})

/** One row per running runner process, renewed every few seconds; removed when it stops. */
export const runnerHeartbeats = sqliteTable('runner_heartbeats', {
  /** The runner's lease owner id (`host:pid:random`). */
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  concurrency: integer('concurrency').notNull(),
  /** The node name the runner was started with (`--node`); null: the panel's own server. */
  node: text('node'),
  startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
  lastSeen: integer('last_seen', { mode: 'timestamp_ms' }).notNull(),
})

/**
 * One row per download under way (restore page or API), so that a tenant runs at most
 * DOWNLOADS_PER_TENANT at once whichever web node serves them. The serving process renews
 * `expiresAt` while the download streams and deletes the row when it ends; a row past
 * `expiresAt` (its process died) no longer counts.
 */
export const downloadSlots = sqliteTable(
  'download_slots',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** The serving process (`host:pid:random`). */
    holder: text('holder').notNull(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('download_slots_tenant_idx').on(t.tenantId, t.expiresAt)],
)

export type Tenant = typeof tenants.$inferSelect
export type User = typeof users.$inferSelect
export type Session = typeof sessions.$inferSelect
export type Destination = typeof destinations.$inferSelect
export type Policy = typeof policies.$inferSelect
export type TenantDatabase = typeof tenantDatabases.$inferSelect
export type JobRow = typeof jobs.$inferSelect
export type Run = typeof runs.$inferSelect
export type RunStage = typeof runStages.$inferSelect
export type Repository = typeof repositories.$inferSelect
export type ProviderDestination = typeof providerDestinations.$inferSelect
export type ProviderPolicy = typeof providerPolicies.$inferSelect

/**
 * One row per tenant, kept current when a run finishes or the scheduler looks ahead, so the
 * admin Tenants page filters, sorts and paginates 10,000 tenants in SQL without scanning runs.
 */
export const tenantHealth = sqliteTable(
  'tenant_health',
  {
    tenantId: integer('tenant_id')
      .primaryKey()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    lastRunId: integer('last_run_id'),
    lastRunStatus: text('last_run_status'),
    lastRunAt: integer('last_run_at', { mode: 'timestamp_ms' }),
    lastSuccessAt: integer('last_success_at', { mode: 'timestamp_ms' }),
    /** Backup runs failed in a row since the last success. */
    failingStreak: integer('failing_streak').notNull().default(0),
    lastError: text('last_error'),
    missedCount: integer('missed_count').notNull().default(0),
    storedBytes: integer('stored_bytes').notNull().default(0),
    snapshotCount: integer('snapshot_count').notNull().default(0),
    nextRunAt: integer('next_run_at', { mode: 'timestamp_ms' }),
    lastVerifiedAt: integer('last_verified_at', { mode: 'timestamp_ms' }),
    lastVerifiedOk: integer('last_verified_ok', { mode: 'boolean' }),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
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

/** Result of a verified restore (test restore into a sandbox) or a data check, per destination. */
export const verifications = sqliteTable(
  'verifications',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    policyId: integer('policy_id').references(() => policies.id, { onDelete: 'set null' }),
    destinationId: integer('destination_id').references(() => destinations.id, {
      onDelete: 'set null',
    }),
    runId: integer('run_id').references(() => runs.id, { onDelete: 'set null' }),
    /** `check`: restic check --read-data-subset; `restore`: test restore into a sandbox. */
    mode: text('mode', { enum: ['check', 'restore'] }).notNull(),
    snapshotId: text('snapshot_id'),
    ok: integer('ok', { mode: 'boolean' }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    /** Plain-words outcome: files compared, tables counted per database, or what failed. */
    message: text('message'),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [
    index('verifications_tenant_idx').on(t.tenantId, t.id),
    index('verifications_policy_idx').on(t.policyId, t.id),
  ],
)

/** The backup token (OpenProject flow): only its SHA-256 stored; valid from `activeFrom`. */
export const backupTokens = sqliteTable('backup_tokens', {
  tenantId: integer('tenant_id')
    .primaryKey()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
  tokenHash: text('token_hash').notNull(),
  activeFrom: integer('active_from', { mode: 'timestamp_ms' }).notNull(),
  createdAt: createdAt(),
})

/** Per-tenant API keys for /api/v1 (Bearer); only the SHA-256 stored, a short prefix shown. */
export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    keyHash: text('key_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
  },
  (t) => [index('api_keys_tenant_idx').on(t.tenantId)],
)

/** Who did what, when and from where. Never secrets, never file contents. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull().default(now),
    /** The acting user; null for the runner, the CLI or an API key (see `actor`). */
    userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
    /** Who, in words: a username, `cli`, `runner`, or `api:<key prefix>`. */
    actor: text('actor').notNull(),
    tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
    /** Dotted verb: `login.ok`, `login.failed`, `destination.create`, `restore.start`… */
    action: text('action').notNull(),
    target: text('target'),
    /** Client address for web and API requests. */
    ip: text('ip'),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [
    index('audit_tenant_idx').on(t.tenantId, t.id),
    index('audit_action_idx').on(t.action, t.id),
    index('audit_at_idx').on(t.at),
  ],
)

/** Outgoing notices (e-mail, webhook), sent by the runner with retries; kept as history. */
export const notifications = sqliteTable(
  'notifications',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tenantId: integer('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
    channel: text('channel', { enum: ['email', 'webhook'] }).notNull(),
    /** E-mail address or webhook URL. */
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
    sentAt: integer('sent_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    index('notifications_status_idx').on(t.status, t.id),
    index('notifications_tenant_idx').on(t.tenantId, t.id),
  ],
)

export type TenantHealth = typeof tenantHealth.$inferSelect
export type Verification = typeof verifications.$inferSelect
export type ApiKey = typeof apiKeys.$inferSelect
export type AuditEntry = typeof auditLog.$inferSelect
export type Notification = typeof notifications.$inferSelect
export type SnapshotRow = typeof snapshots.$inferSelect
export type SnapshotFile = typeof snapshotFiles.$inferSelect
