import { HostBadge } from './host-badge.tsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Checkbox, Csrf, DangerButton, FieldError, Row, TextInput, type Errors } from './fields.tsx'
import type { PolicyWithLinks } from '../src/db/policies.ts'
import type { PolicyInput } from '../src/domain/policies.ts'
import { PRESETS, describeSchedule, formatInZone, nextRuns } from '../src/schedule.ts'
import { canonicalZone, zoneLabel, zoneProblem } from '../src/time-zones.ts'
import { ProblemSlot, ZoneField } from './zone-field.tsx'
import { RetentionFields } from './retention-fields.tsx'
import { DestinationChoices } from './destination-choices.tsx'
import { keepsSentence } from './format.ts'
export { KeepsPreview, type KeepValues } from './retention-fields.tsx'

type Option = { id: number; label: string; hint?: string }

/** Why the schedule cannot run, per field: shown beside that field, never twice. */
export function scheduleProblems(cron: string, timezone: string) {
  const zone = zoneProblem(timezone)
  const check = nextRuns(cron, zone ? 'UTC' : timezone)
  return { cron: check.ok ? undefined : check.error, timezone: zone }
}

/** The schedule in words and its next runs; empty of errors, which show beside the fields. */
export function SchedulePreview(props: { cron: string; timezone: string }) {
  const zone = canonicalZone(props.timezone)
  const check = zone ? nextRuns(props.cron, zone) : null
  return (
    <div id="schedule-preview" class="preview" aria-live="polite">
      {check?.ok ? (
        <>
          <strong>{describeSchedule(props.cron)}</strong>{' '}
          <span class="preview-title">· next runs in {zoneLabel(zone!)}:</span>
          <ol>
            {check.next.map((d) => (
              <li>{formatInZone(d, zone!)}</li>
            ))}
          </ol>
        </>
      ) : (
        <span class="muted">The next runs show here once the schedule reads well.</span>
      )}
    </div>
  )
}

/** The live preview's answer: the preview, and each field's problem put beside it. */
export function ScheduleFragment(props: { cron: string; timezone: string }) {
  const problems = scheduleProblems(props.cron, props.timezone)
  return (
    <>
      <SchedulePreview cron={props.cron} timezone={props.timezone} />
      <ProblemSlot id="f-cron" error={problems.cron} oob />
      <ProblemSlot id="f-timezone" error={problems.timezone} oob />
    </>
  )
}

/** "Daily at 02:30", with the policy's own zone named when it is not the page's. */
export function scheduleWords(p: Pick<PolicyWithLinks, 'schedule' | 'timezone'>, pageZone: string) {
  const words = describeSchedule(p.schedule)
  const own = canonicalZone(p.timezone) ?? p.timezone
  return own === (canonicalZone(pageZone) ?? pageZone) ? words : `${words} (${own} time)`
}

export function PoliciesPage(props: {
  ctx: PageCtx
  policies: PolicyWithLinks[]
  hasDestinations: boolean
}) {
  return (
    <Layout ctx={props.ctx} title="Policies" active="settings">
      <PageHead
        title="Backup policies"
        lead="Each policy says what to back up, where to, when, and how long to keep it."
      >
        <a class="button primary" href="/backups/policies/new">
          New policy
        </a>
      </PageHead>
      {props.policies.length === 0 ? (
        <div class="card empty">
          <h2>No backup policies yet</h2>
          {props.hasDestinations ? (
            <p>Create a policy to start backing up your files and databases.</p>
          ) : (
            <p>
              First <a href="/backups/destinations/new">add a destination</a>, then create a policy.
            </p>
          )}
          <a class="button primary" href="/backups/policies/new">
            New policy
          </a>
        </div>
      ) : (
        <div class="policy-list">
          {props.policies.map((p) => {
            const next = nextRuns(p.schedule, p.timezone, 1)
            const zone = props.ctx.zone ?? p.timezone
            const what = [
              p.includeHome && 'Home files',
              p.databases.length &&
                `${p.databases.length} database${p.databases.length > 1 ? 's' : ''}`,
              p.includePanelSettings && 'Panel settings',
            ].filter(Boolean)
            return (
              <article class="card policy" id={`policy-${p.id}`}>
                <header class="policy-head">
                  <h2>{p.name}</h2>
                  {p.enabled ? (
                    <span class="badge badge-ok">Enabled</span>
                  ) : (
                    <span class="badge badge-muted">Paused</span>
                  )}
                  {p.providerPolicyId !== null ? (
                    <HostBadge />
                  ) : (
                    <div class="policy-actions">
                      <a class="button small" href={`/backups/policies/${p.id}`}>
                        Edit
                      </a>
                      <DangerButton
                        action={`/backups/policies/${p.id}/delete`}
                        csrf={props.ctx.csrf}
                        confirm={`Delete the policy “${p.name}”? Stored backups are kept.`}
                        label="Delete"
                      />
                    </div>
                  )}
                </header>
                <dl class="facts">
                  <div>
                    <dt>Backs up</dt>
                    <dd>{what.join(', ')}</dd>
                  </div>
                  <div>
                    <dt>Destinations</dt>
                    <dd>{p.destinations.map((d) => d.name).join(', ')}</dd>
                  </div>
                  <div>
                    <dt>Schedule</dt>
                    <dd>{scheduleWords(p, zone)}</dd>
                  </div>
                  <div>
                    <dt>Next run</dt>
                    <dd>{p.enabled && next.ok ? formatInZone(next.next[0]!, zone) : 'Paused'}</dd>
                  </div>
                  <div>
                    <dt>How long</dt>
                    <dd>{keepsSentence(p)}</dd>
                  </div>
                </dl>
              </article>
            )
          })}
        </div>
      )}
    </Layout>
  )
}

export type PolicyFormProps = {
  csrf: string
  id?: number
  values: PolicyInput
  errors: Errors
  destinations: Option[]
  databases: Option[]
}

export function PolicyForm(props: PolicyFormProps) {
  const { values: v, errors: e } = props
  const action = props.id ? `/backups/policies/${props.id}` : '/backups/policies'
  const cron = v.preset in PRESETS ? PRESETS[v.preset as keyof typeof PRESETS].cron : v.cron
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
        <TextInput
          name="name"
          label="Name"
          value={v.name}
          error={e.name}
          required
          placeholder="e.g. Nightly"
        />
        <Checkbox
          name="enabled"
          label="Enabled"
          checked={v.enabled}
          help="Paused policies keep their backups but do not run on schedule."
        />
      </section>

      <section class={e.what ? 'card has-error' : 'card'}>
        <h2>What to back up</h2>
        <Checkbox
          name="includeHome"
          label="Home files"
          checked={v.includeHome}
          help="Your sites and files in your home folder."
        />
        <div class="grid-2 tight">
          <Row
            id="f-include"
            label="Only these paths"
            error={e.include}
            help="One pattern per line, relative to your home, e.g. public_html/**. Empty: everything."
          >
            <textarea
              id="f-include"
              name="include"
              rows={3}
              aria-invalid={e.include ? 'true' : undefined}
            >
              {v.include}
            </textarea>
          </Row>
          <Row
            id="f-exclude"
            label="Skip these paths"
            error={e.exclude}
            help="One pattern per line, e.g. **/cache/** or *.log."
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
        </div>
        <fieldset class="group">
          <legend>Databases</legend>
          {props.databases.length === 0 ? (
            <p class="muted">No databases are assigned to your account.</p>
          ) : (
            props.databases.map((d) => (
              <Checkbox
                name="databases"
                value={String(d.id)}
                label={d.label}
                help={d.hint}
                checked={v.databaseIds.includes(d.id)}
              />
            ))
          )}
          <FieldError id="f-databases" error={e.databases} />
        </fieldset>
        <Checkbox
          name="includePanelSettings"
          label="Panel settings"
          checked={v.includePanelSettings}
          help="Your destinations and policies (without secrets), to rebuild your setup."
        />
        <FieldError id="f-what" error={e.what} />
      </section>

      <DestinationChoices
        destinations={props.destinations}
        chosen={v.destinationIds}
        error={e.destinations}
        empty={
          <>
            You have no destinations yet. <a href="/backups/destinations/new">Add one</a> first;
            this form keeps nothing until saved.
          </>
        }
      />

      <section class="card">
        <h2>Schedule</h2>
        <fieldset
          class="schedule"
          hx-get="/backups/policies/schedule-preview"
          hx-trigger="change, input delay:400ms"
          hx-include="this"
          hx-target="#schedule-preview"
          hx-swap="outerHTML"
        >
          <legend class="visually-hidden">When backups run</legend>
          <div class="grid-3">
            <Row id="f-preset" label="Runs">
              <select id="f-preset" name="preset">
                {Object.entries(PRESETS).map(([key, p]) => (
                  <option value={key} data-cron={p.cron} selected={v.preset === key}>
                    {p.label}
                  </option>
                ))}
                <option value="custom" selected={!(v.preset in PRESETS)}>
                  Custom (cron expression)
                </option>
              </select>
            </Row>
            <div class={e.cron ? 'field has-error' : 'field'}>
              <label for="f-cron">Cron expression</label>
              <input
                id="f-cron"
                name="cron"
                type="text"
                class="mono"
                value={cron}
                autocomplete="off"
                spellcheck={false}
                aria-invalid={e.cron ? 'true' : undefined}
                aria-describedby={e.cron ? 'f-cron-help f-cron-error' : 'f-cron-help'}
              />
              <p class="help" id="f-cron-help">
                minute hour day-of-month month day-of-week; 30 2 * * * is daily at 02:30.
              </p>
              <ProblemSlot id="f-cron" error={e.cron} />
            </div>
            <ZoneField
              value={v.timezone}
              error={e.timezone}
              help="The schedule runs in this zone. Type to search, e.g. Kolkata."
            />
          </div>
          <SchedulePreview cron={cron} timezone={v.timezone} />
        </fieldset>
      </section>

      <RetentionFields
        values={v}
        errors={e}
        previewUrl="/backups/policies/keeps-preview"
        help="Keep last keeps that many of the newest backups. Daily, weekly, monthly and yearly keep the newest backup of each of that many days, weeks, months and years. Older backups are removed after each successful backup; the newest good one is always kept."
      />

      <div class="form-actions sticky">
        <button class="button primary" type="submit">
          {props.id ? 'Save policy' : 'Create policy'}
        </button>
        <a class="button ghost" href="/backups/policies">
          Cancel
        </a>
        {Object.keys(e).length > 0 && (
          <span class="form-error">Please fix the highlighted fields.</span>
        )}
      </div>
    </form>
  )
}

export function PolicyFormPage(props: { ctx: PageCtx; form: PolicyFormProps }) {
  const title = props.form.id ? `Edit policy` : 'New policy'
  return (
    <Layout ctx={props.ctx} title={title} active="settings">
      <PageHead title={title} lead="What to back up, where to, when, and for how long." />
      <PolicyForm {...props.form} />
    </Layout>
  )
}
