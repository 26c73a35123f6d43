import { SwapForm, TextInput, type Errors } from './fields.tsx'
import type { LimitsText, QuotaText } from '../src/domain/limit-settings.ts'

const QUOTA_FIELDS = [
  { name: 'quotaGiB', label: 'Stored data (GiB)', inputmode: 'decimal' },
  { name: 'quotaSnapshots', label: 'Snapshots', inputmode: 'numeric' },
  { name: 'quotaRunsPerDay', label: 'On-demand backups per day', inputmode: 'numeric' },
] as const

/** The three quota fields in a row, as on Policy limits and on a tenant's page. */
function QuotaFields(props: {
  values: QuotaText
  errors: Errors
  placeholder: QuotaText
  help?: QuotaText
}) {
  return (
    <div class="grid-3">
      {QUOTA_FIELDS.map((f) => (
        <TextInput
          name={f.name}
          label={f.label}
          value={props.values[f.name]}
          error={props.errors[f.name]}
          inputmode={f.inputmode}
          placeholder={props.placeholder[f.name]}
          help={props.help?.[f.name]}
        />
      ))}
    </div>
  )
}

/** The panel-wide limits on Admin > Policy limits (inside that page's form). */
export function PanelLimitsFields(props: {
  values: LimitsText
  errors: Errors
  configuredRoot: string
}) {
  const { values: v, errors: e } = props
  return (
    <>
      <fieldset class="group">
        <legend>Limits per tenant</legend>
        <p class="help">
          Defaults for every tenant; a tenant’s own limits (on their page under Tenants) take
          precedence. Blank: no limit.
        </p>
        <QuotaFields
          values={v}
          errors={e}
          placeholder={{
            quotaGiB: 'no limit',
            quotaSnapshots: 'no limit',
            quotaRunsPerDay: 'no limit',
          }}
          help={{
            quotaGiB:
              'All their destinations together, as measured after each backup. Over it, backups are refused.',
            quotaSnapshots: 'All their destinations together. Over it, backups are refused.',
            quotaRunsPerDay:
              'Back up now, panel backup and the API, in any 24 hours. 0 turns them off; schedules always run.',
          }}
        />
      </fieldset>
      <TextInput
        name="minIntervalMinutes"
        label="Minimum time between scheduled backups (minutes)"
        value={v.minIntervalMinutes}
        error={e.minIntervalMinutes}
        inputmode="numeric"
        placeholder="60"
        help="A tenant's policy whose schedule runs more often is refused when saved: 60 allows hourly, 1440 daily, 0 any schedule. Blank: 60."
      />
      <TextInput
        name="localRoot"
        label="Local backup root"
        value={v.localRoot}
        error={e.localRoot}
        class="mono"
        autocomplete="off"
        spellcheck="false"
        placeholder={props.configuredRoot}
        help={`Where Local destinations live, one folder per tenant: an existing directory outside every tenant’s home. Blank: ${props.configuredRoot}. Changing it does not move backups already stored.`}
      />
    </>
  )
}

export type TenantLimitsProps = {
  csrf: string
  tenantId: number
  values: QuotaText
  errors: Errors
  /** The panel-wide defaults, as text ("" = no limit), shown as placeholders. */
  defaults: QuotaText
  /** What the tenant uses now, in words. */
  usage: { stored: string; snapshots: number; onDemand: number }
}

const fallback = (text: string, unit = '') =>
  text ? `default: ${text}${unit}` : 'default: no limit'

/** The tenant's own limits on the admin's tenant page; blank fields use the panel defaults. */
export function TenantLimitsCard(props: TenantLimitsProps) {
  const { values: v, errors: e, defaults: d } = props
  const action = `/admin/tenants/${props.tenantId}/limits`
  return (
    <section class="card" id="limits">
      <h2>Limits</h2>
      <p class="help">
        Now: {props.usage.stored} stored, {props.usage.snapshots} snapshots, {props.usage.onDemand}{' '}
        on-demand backups in the last 24 hours. Blank fields use the panel-wide defaults from{' '}
        <a href="/admin/settings">Policy limits</a>.
      </p>
      <SwapForm action={action} target="#limits" csrf={props.csrf}>
        <QuotaFields
          values={v}
          errors={e}
          placeholder={{
            quotaGiB: fallback(d.quotaGiB, ' GiB'),
            quotaSnapshots: fallback(d.quotaSnapshots),
            quotaRunsPerDay: fallback(d.quotaRunsPerDay),
          }}
        />
        <div class="form-actions">
          <button class="button" type="submit">
            Save limits
          </button>
        </div>
      </SwapForm>
    </section>
  )
}
