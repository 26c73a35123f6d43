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

type ValueOf<F extends Field> = F['type'] extends 'number'
  ? number | null
  : F['type'] extends 'checkbox'
    ? boolean
    : string

/** The settings object type a spec describes. */
export type SettingsOf<S extends Spec> = { [F in S[number] as F['name']]: ValueOf<F> }

export function isSecret(field: Field): boolean {
  return field.secret === true || field.type === 'secret'
}

export type Parsed =
  | { ok: true; settings: Record<string, unknown>; secrets: Record<string, string> }
  | { ok: false; errors: Record<string, string> }

/**
 * Validates raw form text against a spec. Secret fields left blank keep `storedSecrets`.
 * Returns plain settings and secrets separately so only the latter get sealed.
 */
export function parseSettings(
  spec: Spec,
  raw: Record<string, string | undefined>,
  storedSecrets: Record<string, string> = {},
): Parsed {
  const settings: Record<string, unknown> = {}
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
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, settings, secrets }
}

function checkValue(field: Field, text: string): string | undefined {
  if (field.type === 'number') {
    const n = Number(text)
    if (!Number.isInteger(n)) return `${field.label} must be a whole number.`
    if (field.min !== undefined && n < field.min) return `${field.label} must be at least ${field.min}.`
    if (field.max !== undefined && n > field.max) return `${field.label} must be at most ${field.max}.`
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
    if (!field.warn || isSecret(field) || value === null || value === undefined || value === '') continue
    const warning = field.warn(String(value))
    if (warning) out[field.name] = warning
  }
  return out
}

/** Values safe to show: secrets become `true` when stored (never the value). */
export function redact(
  spec: Spec,
  settings: Record<string, unknown>,
  secrets: Record<string, string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of spec) {
    out[field.name] = isSecret(field) ? Boolean(secrets[field.name]) : settings[field.name]
  }
  return out
}
