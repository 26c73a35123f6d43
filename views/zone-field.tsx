import { timeZones, canonicalZone, zoneLabel, zoneOffset } from '../src/time-zones.ts'

/**
 * Where a field's problem shows, present even when there is none so the live schedule preview
 * can fill or empty it (`oob`: sent beside the preview as an htmx out-of-band swap).
 */
export function ProblemSlot(props: { id: string; error?: string; oob?: boolean }) {
  return (
    <div id={`${props.id}-problem`} hx-swap-oob={props.oob ? 'true' : undefined}>
      {props.error && (
        <p class="field-error" id={`${props.id}-error`} role="alert">
          {props.error}
        </p>
      )}
    </div>
  )
}

/**
 * A searchable time-zone field: a text input with the zones as suggestions (a datalist, so it
 * works without JavaScript), each with its current UTC offset. Old names (Asia/Calcutta) show
 * under their current ones (Asia/Kolkata); what is typed is checked when the form is saved.
 */
export function ZoneField(props: {
  value: string
  error?: string
  help?: string
  label?: string
  name?: string
}) {
  const id = `f-${props.name ?? 'timezone'}`
  const value = canonicalZone(props.value) ?? props.value
  const known = canonicalZone(props.value) !== null
  const described = [`${id}-help`, props.error && `${id}-error`].filter(Boolean).join(' ')
  return (
    <div class={props.error ? 'field has-error' : 'field'}>
      <label for={id}>{props.label ?? 'Time zone'}</label>
      <input
        id={id}
        name={props.name ?? 'timezone'}
        type="text"
        list={`${id}-list`}
        value={value}
        autocomplete="off"
        spellcheck={false}
        placeholder="Type a city, e.g. Berlin"
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={described}
      />
      <datalist id={`${id}-list`}>
        {timeZones().map((zone) => (
          <option value={zone}>{zoneLabel(zone)}</option>
        ))}
      </datalist>
      <p class="help" id={`${id}-help`}>
        {props.help ?? 'Type to search by city or region.'}
        {known && ` Now ${zoneOffset(value)}.`}
      </p>
      <ProblemSlot id={id} error={props.error} />
    </div>
  )
}
