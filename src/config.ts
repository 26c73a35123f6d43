import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { type TrustedProxies, parseTrustedProxies } from './trusted-proxies.ts'
import { type Brand, brandOf } from './brand.ts'
import { nodeProblem } from './names.ts'

/** Typed configuration, read once from the environment at start. */
export type Config = {
  host: string
  port: number
  dataDir: string
  dbPath: string
  /** 32-byte master key for secrets at rest. */
  secretKey: Buffer
  /** Public origin of the panel, used for links and the CSRF origin check when set. */
  baseUrl: string | null
  /** Root under which Local destinations live, one folder per tenant. */
  localRoot: string
  workDir: string
  demo: boolean
  /** Run the job runner and scheduler inside `panel serve` (PANEL_RUNNER=0 turns it off). */
  runner: boolean
  /** PostgreSQL instead of `<data>/panel.db` (PANEL_DATABASE_URL=postgres://user:pass@host/db). */
  databaseUrl: string | null
  /** Jobs at once; default: number of cores. */
  concurrency: number | undefined
  /**
   * The hosting node this process's runner serves (PANEL_NODE, or `panel runner --node`): it runs
   * only the jobs of tenants on that node. Null: the panel's own server (tenants without a node).
   */
  node: string | null
  /** Job lease length; a crashed runner's jobs return after it (PANEL_LEASE_MS, default 30 s). */
  leaseMs: number
  /** Bearer token that lets a Prometheus scraper read /metrics without a session (PANEL_METRICS_TOKEN); null: admins only. */
  metricsToken: string | null
  /** Hours before a backup token made by an account without a password is valid (PANEL_TOKEN_DELAY_HOURS, default 24). */
  tokenDelayHours: number
  /** Days audit entries are kept (PANEL_AUDIT_DAYS, default 365; 0 keeps them forever). */
  auditDays: number
  /** Outgoing mail server (SMTP_*); null when SMTP_HOST is unset: e-mail notices are off. */
  smtp: SmtpConfig | null
  /** Proxies whose X-Forwarded-For/-Proto are believed (PANEL_TRUSTED_PROXIES; default none). */
  trustedProxies: TrustedProxies
  /** Name, logo and accent colour the pages show (PANEL_BRAND_NAME, _LOGO, _ACCENT). */
  brand: Brand
}

/** SMTP settings for notices; `secure` is TLS from the first byte (port 465), else STARTTLS when offered. */
export type SmtpConfig = {
  host: string
  port: number
  secure: boolean
  user: string | null
  password: string | null
  from: string
}

export class ConfigError extends Error {}

/**
 * Reads the environment. Creates the data directory and, unless PANEL_SECRET_KEY is set,
 * `<data>/secret.key` (mode 0600) on first start.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(env.PANEL_DATA_DIR || './data')
  mkdirSync(dataDir, { recursive: true, mode: 0o711 })
  const port = Number(env.PORT || 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError('PORT must be 0-65535')
  const baseUrl = env.PANEL_BASE_URL ? env.PANEL_BASE_URL.replace(/\/+$/, '') : null
  if (baseUrl && !/^https?:\/\/[^/]+$/.test(baseUrl)) {
    throw new ConfigError('PANEL_BASE_URL must be an origin like https://panel.example.com')
  }
  return {
    host: env.HOST || '127.0.0.1',
    port,
    dataDir,
    dbPath: join(dataDir, 'panel.db'),
    secretKey: loadSecretKey(dataDir, env.PANEL_SECRET_KEY),
    baseUrl,
    localRoot: resolve(env.PANEL_LOCAL_ROOT || join(dataDir, 'repos')),
    workDir: join(dataDir, 'work'),
    demo: env.PANEL_DEMO === '1',
    runner: env.PANEL_RUNNER !== '0',
    concurrency: env.PANEL_CONCURRENCY ? Number(env.PANEL_CONCURRENCY) : undefined,
    node: nodeOf(env.PANEL_NODE),
    databaseUrl: databaseUrlOf(env.PANEL_DATABASE_URL),
    leaseMs: Number(env.PANEL_LEASE_MS) || 30_000,
    metricsToken: metricsTokenOf(env.PANEL_METRICS_TOKEN),
    tokenDelayHours: hoursOf(env.PANEL_TOKEN_DELAY_HOURS, 24, 'PANEL_TOKEN_DELAY_HOURS'),
    auditDays: daysOf(env.PANEL_AUDIT_DAYS, 365, 'PANEL_AUDIT_DAYS'),
    smtp: loadSmtp(env),
    trustedProxies: trustedProxiesOf(env.PANEL_TRUSTED_PROXIES),
    brand: brandOfEnv(env),
  }
}

function brandOfEnv(env: NodeJS.ProcessEnv): Brand {
  try {
    return brandOf(env)
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
}

function trustedProxiesOf(text: string | undefined): TrustedProxies {
  try {
    return parseTrustedProxies(text)
  } catch (err) {
    throw new ConfigError(`PANEL_TRUSTED_PROXIES: ${(err as Error).message}`)
  }
}

function hoursOf(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined || text === '') return fallback
  const hours = Number(text)
  if (!Number.isFinite(hours) || hours < 0)
    throw new ConfigError(`${name} must be a number of hours, 0 or more`)
  return hours
}

function daysOf(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined || text === '') return fallback
  const days = Number(text)
  if (!Number.isInteger(days) || days < 0)
    throw new ConfigError(`${name} must be a whole number of days, 0 or more`)
  return days
}

function loadSmtp(env: NodeJS.ProcessEnv): SmtpConfig | null {
  if (!env.SMTP_HOST) return null
  const secure = /^(1|true|yes)$/i.test(env.SMTP_SECURE ?? '')
  const port = Number(env.SMTP_PORT || (secure ? 465 : 587))
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ConfigError('SMTP_PORT must be 1-65535')
  return {
    host: env.SMTP_HOST,
    port,
    secure,
    user: env.SMTP_USER || null,
    password: env.SMTP_PASSWORD || null,
    from: env.SMTP_FROM || `Panel Backups <backups@${hostname()}>`,
  }
}

/** A scrape token short enough to guess is refused at start rather than trusted. */
function metricsTokenOf(text: string | undefined): string | null {
  const token = text?.trim()
  if (!token) return null
  if (token.length < 16) throw new ConfigError('PANEL_METRICS_TOKEN must be at least 16 characters')
  return token
}

function loadSecretKey(dataDir: string, fromEnv: string | undefined): Buffer {
  if (fromEnv) return parseKey(fromEnv, 'PANEL_SECRET_KEY')
  const file = join(dataDir, 'secret.key')
  if (!existsSync(file)) {
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' })
  }
  return parseKey(readFileSync(file, 'utf8').trim(), file)
}

/** Accepts 64 hex characters or base64 of 32 bytes. */
function parseKey(text: string, where: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64')
  if (key.length !== 32) throw new ConfigError(`${where}: expected 32 bytes (64 hex or base64)`)
  return key
}

function nodeOf(value: string | undefined): string | null {
  const node = value?.trim()
  if (!node) return null
  const problem = nodeProblem(node)
  if (problem) throw new Error(`PANEL_NODE: ${problem}`)
  return node
}

function databaseUrlOf(value: string | undefined): string | null {
  const url = value?.trim()
  if (!url) return null
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new Error('PANEL_DATABASE_URL: give a postgres://user:password@host:5432/database URL.')
  return url
}
