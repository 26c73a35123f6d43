import type { Child } from 'hono/jsx'
import { Checkbox, FieldError } from './fields.tsx'

/**
 * The Destinations card of a policy form (tenant's or host's): one checkbox per destination, or
 * `empty` (where to add one) when there is none, and the field's error.
 */
export function DestinationChoices(props: {
  destinations: { id: number; label: string; hint?: string }[]
  chosen: number[]
  error?: string
  empty: Child
}) {
  return (
    <section class={props.error ? 'card has-error' : 'card'}>
      <h2>Destinations</h2>
      <p class="help">Each destination succeeds or fails on its own.</p>
      {props.destinations.length === 0 ? (
        <p class="muted">{props.empty}</p>
      ) : (
        props.destinations.map((d) => (
          <Checkbox
            name="destinations"
            value={String(d.id)}
            label={d.label}
            help={d.hint}
            checked={props.chosen.includes(d.id)}
          />
        ))
      )}
      <FieldError id="f-destinations" error={props.error} />
    </section>
  )
}
