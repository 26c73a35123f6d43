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

/** Label, control, help and error, wired together for screen readers. */
export function Row(props: {
  id: string
  label: string
  help?: Child
  error?: string
  children: Child
  required?: boolean
}) {
  return (
    <div class={props.error ? 'field has-error' : 'field'}>
      <label for={props.id}>
        {props.label}
        {props.required && <span class="req" aria-hidden="true"> *</span>}
      </label>
      {props.children}
      {props.help && <p class="help">{props.help}</p>}
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

export function Checkbox(props: { name: string; label: string; checked: boolean; help?: Child; value?: string }) {
  const id = `f-${props.name}${props.value ? '-' + props.value : ''}`
  return (
    <div class="check">
      <input id={id} type="checkbox" name={props.name} value={props.value ?? 'on'} checked={props.checked} />
      <label for={id}>
        {props.label}
        {props.help && <span class="help">{props.help}</span>}
      </label>
    </div>
  )
}

/**
 * One control generated from a driver's settings field. Secrets never carry their value:
 * `value` for a secret is only "is a value stored".
 */
export function SpecField(props: { field: Field; value: unknown; error?: string; prefix: string }) {
  const { field, error } = props
  const name = `${props.prefix}${field.name}`
  const id = `f-${name.replace(/\W/g, '-')}`
  const describedBy = error ? `${id}-error` : undefined
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
        <textarea {...common} rows={4} placeholder={placeholder} autocomplete="off" spellcheck={false}></textarea>
      ) : (
        <input {...common} type="password" value="" placeholder={placeholder} autocomplete="new-password" />
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
    <Row id={id} label={field.label} help={field.help} error={error} required={field.required && !(isSecret(field) && props.value === true)}>
      {control}
    </Row>
  )
}
