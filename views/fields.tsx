import type { Child } from 'hono/jsx'
import type { Field } from '../src/drivers/spec.ts'
import { isSecret } from '../src/drivers/spec.ts'

export type Errors = Record<string, string | undefined>

export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />
}

export function FieldError(props: { id: string; error?: string }) {
  if (!props.error) return null
  return (
    <p class="field-error" id={`${props.id}-error`} role="alert">
      {props.error}
    </p>
  )
}

/** A non-blocking note on a field's value (the value is still accepted). */
export function FieldWarning(props: { id: string; warning?: string }) {
  if (!props.warning) return null
  return (
    <p class="field-warning" id={`${props.id}-warning`} role="status">
      {props.warning}
    </p>
  )
}

/** Label, control, help, warning and error, wired together for screen readers. */
export function Row(props: {
  id: string
  label: string
  help?: Child
  error?: string
  warning?: string
  children: Child
  required?: boolean
}) {
  return (
    <div class={props.error ? 'field has-error' : props.warning ? 'field has-warning' : 'field'}>
      <label for={props.id}>
        {props.label}
        {props.required && (
          <span class="req" aria-hidden="true">
            {' '}
            *
          </span>
        )}
      </label>
      {props.children}
      {props.help && <p class="help">{props.help}</p>}
      <FieldWarning id={props.id} warning={props.warning} />
      <FieldError id={props.id} error={props.error} />
    </div>
  )
}

export function TextInput(props: {
  name: string
  label: string
  value?: string
  error?: string
  help?: Child
  type?: string
  required?: boolean
  placeholder?: string
  autocomplete?: string
  [attr: string]: unknown
}) {
  const { name, label, value, error, help, type, required, placeholder, autocomplete, ...rest } =
    props
  const id = `f-${name}`
  return (
    <Row id={id} label={label} help={help} error={error} required={required}>
      <input
        id={id}
        name={name}
        type={type ?? 'text'}
        value={value ?? ''}
        required={required}
        placeholder={placeholder}
        autocomplete={autocomplete}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        {...rest}
      />
    </Row>
  )
}

/**
 * A form that works as a plain POST and, with htmx, swaps `target` (itself by default) for the
 * answer, so a 422 shows the errors in place; carries the CSRF token.
 */
export function SwapForm(props: {
  action: string
  csrf: string
  target?: string
  id?: string
  class?: string
  children: Child
}) {
  return (
    <form
      id={props.id}
      method="post"
      action={props.action}
      class={props.class ?? 'form'}
      novalidate
      hx-post={props.action}
      hx-target={props.target ?? 'this'}
      hx-swap="outerHTML"
    >
      <Csrf token={props.csrf} />
      {props.children}
    </form>
  )
}

/**
 * A small destructive button (delete, revoke, cancel). With htmx the browser asks `confirm` and
 * the POST carries `confirm=yes`; without JavaScript it is a plain form without it, and the route
 * answers a confirmation page (src/web/confirm.tsx) whose Yes posts again with `confirm=yes`.
 * Every route behind one must check `confirmed(c)` first.
 */
export function DangerButton(props: {
  action: string
  csrf: string
  confirm: string
  label: string
  /** With htmx: what the answer replaces (outerHTML); default the page's own handling. */
  target?: string
}) {
  return (
    <form method="post" action={props.action}>
      <Csrf token={props.csrf} />
      <button
        class="button small danger-ghost"
        type="submit"
        hx-post={props.action}
        hx-target={props.target}
        hx-swap={props.target ? 'outerHTML' : undefined}
        hx-confirm={props.confirm}
        hx-vals='{"confirm":"yes"}'
      >
        {props.label}
      </button>
    </form>
  )
}

export function Checkbox(props: {
  name: string
  label: string
  checked: boolean
  help?: Child
  value?: string
}) {
  const id = `f-${props.name}${props.value ? '-' + props.value : ''}`
  return (
    <div class="check">
      <input
        id={id}
        type="checkbox"
        name={props.name}
        value={props.value ?? 'on'}
        checked={props.checked}
      />
      <label for={id}>
        {props.label}
        {props.help && <span class="help">{props.help}</span>}
      </label>
    </div>
  )
}

/**
 * One control generated from a driver's settings field. Secrets never carry their value:
 * `value` for a secret is only "is a value stored"; their controls are marked `data-secret` so
 * the page script can keep what was typed when htmx swaps the form (the server never echoes it).
 */
export function SpecField(props: {
  field: Field
  value: unknown
  error?: string
  warning?: string
  prefix: string
}) {
  const { field, error, warning } = props
  const name = `${props.prefix}${field.name}`
  const id = `f-${name.replace(/\W/g, '-')}`
  const describedBy =
    [error && `${id}-error`, warning && `${id}-warning`].filter(Boolean).join(' ') || undefined
  const common = {
    id,
    name,
    'aria-invalid': error ? 'true' : undefined,
    'aria-describedby': describedBy,
  }
  if (field.type === 'checkbox') {
    return (
      <div class={error ? 'check has-error' : 'check'}>
        <input type="checkbox" {...common} checked={Boolean(props.value)} />
        <label for={id}>
          {field.label}
          {field.help && <span class="help">{field.help}</span>}
        </label>
        <FieldWarning id={id} warning={warning} />
        <FieldError id={id} error={error} />
      </div>
    )
  }
  let control: Child
  const text = props.value === null || props.value === undefined ? '' : String(props.value)
  if (isSecret(field)) {
    const stored = props.value === true
    const placeholder = stored ? '•••••••• stored (leave blank to keep)' : field.placeholder
    control =
      field.type === 'textarea' ? (
        <textarea
          {...common}
          data-secret="1"
          rows={4}
          placeholder={placeholder}
          autocomplete="off"
          spellcheck={false}
        ></textarea>
      ) : (
        <input
          {...common}
          data-secret="1"
          type="password"
          value=""
          placeholder={placeholder}
          autocomplete="new-password"
        />
      )
  } else if (field.type === 'select') {
    control = (
      <select {...common}>
        {field.choices?.map((c) => (
          <option value={c.value} selected={c.value === text}>
            {c.label}
          </option>
        ))}
      </select>
    )
  } else if (field.type === 'textarea') {
    control = (
      <textarea {...common} rows={4} placeholder={field.placeholder}>
        {text}
      </textarea>
    )
  } else {
    control = (
      <input
        {...common}
        type={field.type === 'number' ? 'number' : 'text'}
        value={text}
        min={field.min}
        max={field.max}
        placeholder={field.placeholder}
      />
    )
  }
  return (
    <Row
      id={id}
      label={field.label}
      help={field.help}
      error={error}
      warning={warning}
      required={field.required && !(isSecret(field) && props.value === true)}
    >
      {control}
    </Row>
  )
}
