import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Checkbox, Csrf, FieldError, Row, TextInput, type Errors } from './fields.tsx'
import type { ProviderPolicyInput } from '../src/domain/provider-policies.ts'
import { RetentionFields } from './retention-fields.tsx'
import { DestinationChoices } from './destination-choices.tsx'

export type ProviderPolicyFormProps = {
  csrf: string
  id?: number
  values: ProviderPolicyInput
  errors: Errors
  /** The provider destinations to choose from. */
  destinations: { id: number; label: string; hint?: string }[]
  /** The server's time zone, which the start window is in. */
  zone: string
}

function Radio(props: { name: string; value: string; label: string; checked: boolean }) {
  const id = `f-${props.name}-${props.value}`
  return (
    <div class="check">
      <input id={id} type="radio" name={props.name} value={props.value} checked={props.checked} />
      <label for={id}>{props.label}</label>
    </div>
  )
}

/** New or edit form for a provider backup policy; a plain POST that htmx swaps in place. */
export function ProviderPolicyForm(props: ProviderPolicyFormProps) {
  const { values: v, errors: e } = props
  const action = props.id ? `/admin/policies/${props.id}` : '/admin/policies'
  return (
    <form
      method="post"
      action={action}
      class="form policy-form"
      novalidate
      hx-post={action}
      hx-target="this"
      hx-swap="outerHTML"
    >
      <Csrf token={props.csrf} />
      <section class="card">
        <h2>Policy</h2>
        <TextInput name="name" label="Name" value={v.name} error={e.name} required />
        <Checkbox
          name="enabled"
          label="Enabled"
          checked={v.enabled}
          help="Paused policies keep their backups but do not run."
        />
      </section>

      <section class={e.scope || e.plan ? 'card has-error' : 'card'}>
        <h2>Who</h2>
        <fieldset class="group">
          <legend class="visually-hidden">Which tenants this policy backs up</legend>
          <Radio name="scope" value="all" label="All tenants" checked={v.scope !== 'plan'} />
          <Radio
            name="scope"
            value="plan"
            label="Tenants on one plan"
            checked={v.scope === 'plan'}
          />
          <FieldError id="f-scope" error={e.scope} />
        </fieldset>
        <TextInput
          name="plan"
          label="Plan"
          value={v.plan}
          error={e.plan}
          placeholder="e.g. Business"
          help="Used with “Tenants on one plan”: the plan name as set on each tenant’s page."
        />
      </section>

      <section class={e.what ? 'card has-error' : 'card'}>
        <h2>What to back up</h2>
        <Checkbox
          name="includeHome"
          label="Home files"
          checked={v.includeHome}
          help="Each tenant’s home folder: their sites and files."
        />
        <Row
          id="f-exclude"
          label="Skip these paths"
          error={e.exclude}
          help="One pattern per line, relative to each home folder, e.g. **/cache/** or *.log."
        >
          <textarea
            id="f-exclude"
            name="exclude"
            rows={3}
            aria-invalid={e.exclude ? 'true' : undefined}
          >
            {v.exclude}
          </textarea>
        </Row>
        <Checkbox
          name="includeDatabases"
          label="All assigned databases"
          checked={v.includeDatabases}
          help="Every database assigned to the tenant, including ones assigned later."
        />
        <FieldError id="f-what" error={e.what} />
      </section>

      <DestinationChoices
        destinations={props.destinations}
        chosen={v.destinationIds}
        error={e.destinations}
        empty={
          <>
            There is no destination for the host’s backups yet. Add one under{' '}
            <a href="/admin/destinations/new">Administration › Destinations</a> first; this form
            keeps nothing until saved.
          </>
        }
      />

      <section class="card">
        <h2>When</h2>
        <p class="help">
          Runs once a day. Each tenant starts at its own time inside this window, so backups do not
          all start at once. Times are in the server’s time zone ({props.zone}); an end before the
          start runs past midnight.
        </p>
        <div class="grid-2 tight">
          <TextInput
            name="windowStart"
            label="Start between"
            type="time"
            value={v.windowStart}
            error={e.windowStart}
            required
          />
          <TextInput
            name="windowEnd"
            label="and"
            type="time"
            value={v.windowEnd}
            error={e.windowEnd}
            required
          />
        </div>
      </section>

      <RetentionFields
        values={v}
        errors={e}
        previewUrl="/admin/policies/keeps-preview"
        help="Keep last keeps that many of the newest backups. Daily, weekly, monthly and yearly keep the newest backup of each of that many days, weeks, months and years (the “grandfather-father-son” scheme), so a few dozen backups reach a year or more back. The newest good backup is always kept."
      />

      <div class="form-actions sticky">
        <button class="button primary" type="submit">
          {props.id ? 'Save policy' : 'Create policy'}
        </button>
        <a class="button ghost" href="/admin/policies">
          Cancel
        </a>
        {Object.values(e).some(Boolean) && (
          <span class="form-error">Please fix the highlighted fields.</span>
        )}
      </div>
    </form>
  )
}

export function ProviderPolicyFormPage(props: { ctx: PageCtx; form: ProviderPolicyFormProps }) {
  const title = props.form.id ? 'Edit backup policy' : 'New backup policy'
  return (
    <Layout ctx={props.ctx} title={title} active="policies">
      <PageHead
        title={title}
        lead="Which tenants, what, where to, when, and for how long. Tenants get a read-only copy."
      />
      <ProviderPolicyForm {...props.form} />
    </Layout>
  )
}
