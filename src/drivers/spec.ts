/**
 * A driver's settings spec: one list of fields drives validation, the form, secret redaction
 * and (for remote drivers) Test connection. Modelled on rclone's fs.Option.
 */
export type FieldType = 'text' | 'number' | 'select' | 'checkbox' | 'textarea' | 'secret'

export type Field = {
  name: string
  label: string
  help?: string
  type: FieldType
  default?: string | number | boolean
  required?: boolean
  /** Write-only: encrypted at rest, never rendered back; blank on edit keeps the stored value. */
  secret?: boolean
  /** Folded away under "Advanced" in the form. */
  advanced?: boolean
  choices?: readonly { value: string; label: string }[]
  min?: number
  max?: number
  placeholder?: string
  /** Extra rule on a present value; returns a sentence saying what is wrong. */
  check?: (value: string) => string | undefined
  /**
   * Advice on a valid value that is still saved (e.g. an archive storage class): a sentence shown
   * beside the field, in the destination list and with Test connection; never blocks saving.
   */
  warn?: (value: string) => string | undefined
}

export type Spec = readonly Field[]

/** A setting as stored: a number field's value (null when blank), a checkbox's, or text. */
export type Value = string | number | boolean | null

type ValueOfType<T extends FieldType> = T extends 'number'
  ? number | null
  : T extends 'checkbox'
    ? boolean
    : string

/** Whether a field is secret: `boolean` for a field not known statically (any driver's). */
type IsSecret<F extends Field> = F extends { secret: true } | { type: 'secret' }
  ? true
  : F extends { type: Exclude<FieldType, 'secret'>; secret?: false } // literal fields
    ? false
    : boolean

// Plain mapped types, no conditional around them: the registry compares entries of different
// specs, which TypeScript only allows when it can measure how a spec's type varies.

/** The (non-secret) settings a spec describes, as `parseSettings` and `settingsOf` give them. */
export type SettingsOf<S extends Spec> = {
  [F in S[number] as IsSecret<F> extends true ? never : F['name']]: ValueOfType<F['type']>
}

/** The secrets a spec describes: each one present only when set. */
export type SecretsOf<S extends Spec> = {
  [F in S[number] as IsSecret<F> extends false ? never : F['name']]?: string
}

export function isSecret(field: Field): boolean {
  return field.secret === true || field.type === 'secret'
}

/**
 * Stored values (settings JSON from the database, or any plain object) typed by the spec: each
 * non-secret field as its type reads it, missing or mistyped ones as a blank form would give
 * them (text `''`, number `null`, checkbox `false`). Other keys are dropped.
 */
export function settingsOf<S extends Spec>(
  spec: S,
  values: Record<string, unknown>,
): SettingsOf<S> {
  const out: Record<string, Value> = {}
  for (const field of spec) {
    if (isSecret(field)) continue
    const v = values[field.name]
    if (field.type === 'number')
      out[field.name] = typeof v === 'number' && Number.isFinite(v) ? v : null
    else if (field.type === 'checkbox') out[field.name] = v === true
    else out[field.name] = typeof v === 'string' ? v : v == null ? '' : String(v)
  }
  return out as SettingsOf<S>
}

/** Stored secrets typed by the spec: its secret fields that are set, nothing else. */
export function secretsOf<S extends Spec>(
  spec: S,
  secrets: Partial<Record<string, string>>,
): SecretsOf<S> {
  const out: Record<string, string> = {}
  for (const field of spec) {
    const v = secrets[field.name]
    if (isSecret(field) && typeof v === 'string' && v) out[field.name] = v
  }
  return out as SecretsOf<S>
}

/** A destination's stored settings and secrets, typed by its driver's spec. */
export function valuesOf<S extends Spec>(
  spec: S,
  settings: Record<string, unknown>,
  secrets: Partial<Record<string, string>>,
): { settings: SettingsOf<S>; secrets: SecretsOf<S> } {
  return { settings: settingsOf(spec, settings), secrets: secretsOf(spec, secrets) }
}

export type Parsed<S extends Spec = Spec> =
  | { ok: true; settings: SettingsOf<S>; secrets: SecretsOf<S> }
  | { ok: false; errors: Record<string, string> }

/**
 * Validates raw form text against a spec. Secret fields left blank keep `storedSecrets`.
 * Returns plain settings and secrets separately so only the latter get sealed.
 */
export function parseSettings<S extends Spec>(
  spec: S,
  raw: Record<string, string | undefined>,
  storedSecrets: Partial<Record<string, string>> = {},
): Parsed<S> {
  const settings: Record<string, Value> = {}
  const secrets: Record<string, string> = {}
  const errors: Record<string, string> = {}
  for (const field of spec) {
    const text = (raw[field.name] ?? '').trim()
    if (field.type === 'checkbox') {
      settings[field.name] = raw[field.name] !== undefined ? isOn(text) : false
      continue
    }
    if (isSecret(field)) {
      const value = text || storedSecrets[field.name] || ''
      if (!value && field.required) errors[field.name] = `${field.label} is required.`
      else if (text && field.check?.(text)) errors[field.name] = field.check(text)!
      else if (value) secrets[field.name] = value
      continue
    }
    if (!text) {
      if (field.required) errors[field.name] = `${field.label} is required.`
      else settings[field.name] = field.type === 'number' ? null : ''
      continue
    }
    const problem = checkValue(field, text)
    if (problem) errors[field.name] = problem
    else settings[field.name] = field.type === 'number' ? Number(text) : text
  }
  if (Object.keys(errors).length) return { ok: false, errors }
  return { ok: true, settings: settings as SettingsOf<S>, secrets: secrets as SecretsOf<S> }
}

function checkValue(field: Field, text: string): string | undefined {
  if (field.type === 'number') {
    const n = Number(text)
    if (!Number.isInteger(n)) return `${field.label} must be a whole number.`
    if (field.min !== undefined && n < field.min)
      return `${field.label} must be at least ${field.min}.`
    if (field.max !== undefined && n > field.max)
      return `${field.label} must be at most ${field.max}.`
  }
  if (field.type === 'select' && !field.choices?.some((c) => c.value === text)) {
    return `Choose one of the listed values for ${field.label}.`
  }
  if (text.length > 10_000) return `${field.label} is too long.`
  return field.check?.(text)
}

function isOn(text: string): boolean {
  return text === 'on' || text === 'true' || text === '1' || text === 'yes'
}

/**
 * The warnings a spec's `warn` rules raise for these values (form text or stored settings),
 * keyed by field name. Secrets are never looked at.
 */
export function warningsOf(spec: Spec, values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const field of spec) {
    const value = values[field.name]
    if (!field.warn || isSecret(field) || value === null || value === undefined || value === '')
      continue
    const warning = field.warn(String(value))
    if (warning) out[field.name] = warning
  }
  return out
}

/** Values safe to show: secrets become `true` when stored (never the value). */
export function redact(
  spec: Spec,
  settings: Record<string, unknown>,
  secrets: Partial<Record<string, string>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of spec) {
    out[field.name] = isSecret(field) ? Boolean(secrets[field.name]) : settings[field.name]
  }
  return out
}
