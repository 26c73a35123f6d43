import * as sqlite from './schema-sqlite.ts'
import * as pg from './schema-pg.ts'

/*
 * The tables every query module uses. They are SQLite's (schema-sqlite.ts) unless the panel runs
 * on PostgreSQL: openDatabase() then swaps in schema-pg.ts's twins (same names, columns and
 * properties; test/unit/schema-match.test.ts proves it) before any query runs. ES module
 * bindings are live, so every importer sees the swap. The TypeScript types stay SQLite's.
 */

export let tenants = sqlite.tenants
export let providerDestinations = sqlite.providerDestinations
export let providerPolicies = sqlite.providerPolicies
export let providerPolicyDestinations = sqlite.providerPolicyDestinations
export let users = sqlite.users
export let sessions = sqlite.sessions
export let loginLinks = sqlite.loginLinks
export let loginThrottle = sqlite.loginThrottle
export let tenantDatabases = sqlite.tenantDatabases
export let destinations = sqlite.destinations
export let policies = sqlite.policies
export let policyDestinations = sqlite.policyDestinations
export let policyDatabases = sqlite.policyDatabases
export let jobs = sqlite.jobs
export let runs = sqlite.runs
export let runStages = sqlite.runStages
export let runLogs = sqlite.runLogs
export let repositories = sqlite.repositories
export let snapshots = sqlite.snapshots
export let snapshotFiles = sqlite.snapshotFiles
export let scheduleState = sqlite.scheduleState
export let panelSettings = sqlite.panelSettings
export let runnerSettings = sqlite.runnerSettings
export let runnerHeartbeats = sqlite.runnerHeartbeats
export let downloadSlots = sqlite.downloadSlots
export let tenantHealth = sqlite.tenantHealth
export let verifications = sqlite.verifications
export let backupTokens = sqlite.backupTokens
export let apiKeys = sqlite.apiKeys
export let auditLog = sqlite.auditLog
export let notifications = sqlite.notifications

/** Switches every table above to the dialect's definition (once, at start). */
export function useTablesOf(dialect: 'sqlite' | 'postgresql'): void {
  const s = (dialect === 'postgresql' ? pg : sqlite) as unknown as typeof sqlite
  tenants = s.tenants
  providerDestinations = s.providerDestinations
  providerPolicies = s.providerPolicies
  providerPolicyDestinations = s.providerPolicyDestinations
  users = s.users
  sessions = s.sessions
  loginLinks = s.loginLinks
  loginThrottle = s.loginThrottle
  tenantDatabases = s.tenantDatabases
  destinations = s.destinations
  policies = s.policies
  policyDestinations = s.policyDestinations
  policyDatabases = s.policyDatabases
  jobs = s.jobs
  runs = s.runs
  runStages = s.runStages
  runLogs = s.runLogs
  repositories = s.repositories
  snapshots = s.snapshots
  snapshotFiles = s.snapshotFiles
  scheduleState = s.scheduleState
  panelSettings = s.panelSettings
  runnerSettings = s.runnerSettings
  runnerHeartbeats = s.runnerHeartbeats
  downloadSlots = s.downloadSlots
  tenantHealth = s.tenantHealth
  verifications = s.verifications
  backupTokens = s.backupTokens
  apiKeys = s.apiKeys
  auditLog = s.auditLog
  notifications = s.notifications
}

export type {
  Tenant,
  User,
  Session,
  Destination,
  Policy,
  TenantDatabase,
  JobRow,
  Run,
  RunStage,
  Repository,
  ProviderDestination,
  ProviderPolicy,
  TenantHealth,
  Verification,
  ApiKey,
  AuditEntry,
  Notification,
  SnapshotRow,
  SnapshotFile,
} from './schema-sqlite.ts'
