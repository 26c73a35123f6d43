import { FieldError, TextInput, type Errors } from './fields.tsx'
import { keepsSentence, type Keeps } from './format.ts'

/** The retention numbers as typed in a form. */
export type KeepValues = Record<keyof Keeps, string>

/** What the retention numbers keep, in one line; updated live as they are typed. */
export function KeepsPreview(props: { values: KeepValues }) {
  const numbers = Object.entries(props.values).map(([k, v]) => [k, v.trim() || '0'] as const)
  const whole = numbers.every(([, v]) => /^\d{1,5}$/.test(v))
  const keeps = Object.fromEntries(numbers.map(([k, v]) => [k, Number(v)])) as Keeps
  const text = !whole
    ? 'Use whole numbers to see what this keeps.'
    : Object.values(keeps).every((n) => n === 0)
      ? 'Keeps nothing yet: set at least one number above 0.'
      : `${keepsSentence(keeps)}.`
  return (
    <p id="keeps-preview" class="preview" aria-live="polite">
      {text}
    </p>
  )
}

const KEEP = [
  ['keepLast', 'Keep last'],
  ['keepDaily', 'Daily'],
  ['keepWeekly', 'Weekly'],
  ['keepMonthly', 'Monthly'],
  ['keepYearly', 'Yearly'],
] as const

/**
 * "How long to keep backups": the five numbers, what they keep in one line (refreshed from
 * `previewUrl` as they are typed, with htmx), and the errors beside them. Tenant and admin
 * policy forms alike.
 */
export function RetentionFields(props: {
  values: KeepValues
  errors: Errors
  previewUrl: string
  help: string
}) {
  const v = props.values
  const e = props.errors
  return (
    <section class={e.retention ? 'card has-error' : 'card'}>
      <h2>How long to keep backups</h2>
      <p class="help">{props.help}</p>
      <div
        hx-get={props.previewUrl}
        hx-trigger="input delay:300ms, change"
        hx-include="this"
        hx-target="#keeps-preview"
        hx-swap="outerHTML"
      >
        <div class="grid-5 keep-grid">
          {KEEP.map(([name, label]) => (
            <TextInput
              name={name}
              label={label}
              type="number"
              min="0"
              value={v[name]}
              error={e[name]}
            />
          ))}
        </div>
        <KeepsPreview values={Object.fromEntries(KEEP.map(([n]) => [n, v[n]])) as KeepValues} />
      </div>
      <FieldError id="f-retention" error={e.retention} />
    </section>
  )
}
