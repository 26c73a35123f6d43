import { sql } from 'drizzle-orm'
import {
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
  index,
} from 'drizzle-orm/sqlite-core'

const now = sql`(unixepoch() * 1000)`
const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull().default(now)

export const tenants = sqliteTable('tenants', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull().unique(),
  homeDir: text('home_dir').notNull(),
  systemUser: text('system_user'),
  timezone: text('timezone').notNull().default('UTC'),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  createdAt: createdAt(),
})

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  username: text('username').notNull().unique(),
  /** argon2id PHC string; null until the account sets a password (one-time link). */
  passwordHash: text('password_hash'),
  role: text('role', { enum: ['admin', 'tenant'] }).notNull(),
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

/** Failed sign-in counters per username and per client address. */
export const loginThrottle = sqliteTable('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  windowStart: integer('window_start', { mode: 'timestamp_ms' }).notNull(),
  lockedUntil: integer('locked_until', { mode: 'timestamp_ms' }),
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
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (t) => [uniqueIndex('destinations_tenant_name').on(t.tenantId, t.name)],
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
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(now),
  },
  (t) => [uniqueIndex('policies_tenant_name').on(t.tenantId, t.name)],
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
  (t) => [primaryKey({ columns: [t.policyId, t.destinationId] }), index('pd_dest_idx').on(t.destinationId)],
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

export type Tenant = typeof tenants.$inferSelect
export type User = typeof users.$inferSelect
export type Session = typeof sessions.$inferSelect
export type Destination = typeof destinations.$inferSelect
export type Policy = typeof policies.$inferSelect
export type TenantDatabase = typeof tenantDatabases.$inferSelect
