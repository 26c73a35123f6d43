import { HostBadge } from './host-badge.tsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Checkbox, Csrf, DangerButton, FieldError, Row, TextInput, type Errors } from './fields.tsx'
import type { PolicyWithLinks } from '../src/db/policies.ts'
import type { PolicyInput } from '../src/domain/policies.ts'
import { PRESETS, TIMEZONES, formatInZone, nextRuns, presetOf } from '../src/schedule.ts'

type Option = { id: number; label: string; hint?: string }

export function SchedulePreview(props: { cron: string; timezone: string }) {
  const check = nextRuns(props.cron, props.timezone)
  return (
    <div id="schedule-preview" class="preview" aria-live="polite">
      {check.ok ? (
        <>
          <span class="preview-title">Next runs ({props.timezone})</span>
          <ol>
            {check.next.map((d) => (
              <li>{formatInZone(d, props.timezone)}</li>
            ))}
          </ol>
        </>
      ) : (
        <span class="preview-error">{check.error}</span>
      )}
    </div>
  )
}

function describeSchedule(p: PolicyWithLinks): string {
  const preset = presetOf(p.schedule)
  return preset === 'custom' ? `cron ${p.schedule}` : PRESETS[preset].label
}

function retentionText(p: PolicyWithLinks): string {
  const parts = [
    [p.keepLast, 'last'],
    [p.keepDaily, 'daily'],
    [p.keepWeekly, 'weekly'],
    [p.keepMonthly, 'monthly'],
    [p.keepYearly, 'yearly'],
  ] as const
  return parts
    .filter(([n]) => n > 0)
    .map(([n, what]) => `${n} ${what}`)
    .join(', ')
}

export function PoliciesPage(props: {
  ctx: PageCtx
  policies: PolicyWithLinks[]
  hasDestinations: boolean
}) {
  return (
    <Layout ctx={props.ctx} title="Settings" active="settings">
      <PageHead
        title="Backup settings"
        lead="Policies: what to back up, where, when, and how long to keep it."
      >
        <a class="button primary" href="/backups/settings/new">
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
          <a class="button primary" href="/backups/settings/new">
            New policy
          </a>
        </div>
      ) : (
        <div class="policy-list">
          {props.policies.map((p) => {
            const next = nextRuns(p.schedule, p.timezone, 1)
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
                      <a class="button small" href={`/backups/settings/${p.id}`}>
                        Edit
                      </a>
                      <DangerButton
                        action={`/backups/settings/${p.id}/delete`}
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
                    <dd>
                      {describeSchedule(p)} <span class="muted">({p.timezone})</span>
                    </dd>
                  </div>
                  <div>
                    <dt>Next run</dt>
                    <dd>{p.enabled && next.ok ? formatInZone(next.next[0]!, p.timezone) : '—'}</dd>
                  </div>
                  <div>
                    <dt>Keeps</dt>
                    <dd>{retentionText(p)}</dd>
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
  const action = props.id ? `/backups/settings/${props.id}` : '/backups/settings'
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

      <section class={e.destinations ? 'card has-error' : 'card'}>
        <h2>Destinations</h2>
        <p class="help">Each destination succeeds or fails on its own.</p>
        {props.destinations.length === 0 ? (
          <p class="muted">
            You have no destinations yet. <a href="/backups/destinations/new">Add one</a> first;
            this form keeps nothing until saved.
          </p>
        ) : (
          props.destinations.map((d) => (
            <Checkbox
              name="destinations"
              value={String(d.id)}
              label={d.label}
              help={d.hint}
              checked={v.destinationIds.includes(d.id)}
            />
          ))
        )}
        <FieldError id="f-destinations" error={e.destinations} />
      </section>

      <section class="card">
        <h2>Schedule</h2>
        <fieldset
          class="schedule"
          hx-get="/backups/settings/schedule-preview"
          hx-trigger="change, input delay:400ms"
          hx-include="this"
          hx-target="#schedule-preview"
          hx-swap="outerHTML"
        >
          <div class="grid-3">
            <Row id="f-preset" label="Runs">
              <select id="f-preset" name="preset">
                {Object.entries(PRESETS).map(([key, p]) => (
                  <option value={key} data-cron={p.cron} selected={v.preset === key}>
                    {p.label}
                  </option>
                ))}
                <option value="custom" selected={!(v.preset in PRESETS)}>
                  Custom (cron)
                </option>
              </select>
            </Row>
            <TextInput
              name="cron"
              label="Cron expression"
              value={cron}
              error={e.cron}
              class="mono"
              autocomplete="off"
              spellcheck="false"
              help="minute hour day month weekday"
            />
            <Row id="f-timezone" label="Time zone" error={e.timezone}>
              <select id="f-timezone" name="timezone">
                {TIMEZONES.map((tz) => (
                  <option value={tz} selected={tz === v.timezone}>
                    {tz}
                  </option>
                ))}
              </select>
            </Row>
          </div>
          <SchedulePreview cron={cron} timezone={v.timezone} />
        </fieldset>
      </section>

      <section class={e.retention ? 'card has-error' : 'card'}>
        <h2>Retention</h2>
        <p class="help">
          After each successful backup, older snapshots beyond these are removed. The newest good
          one is always kept.
        </p>
        <div class="grid-5">
          <TextInput
            name="keepLast"
            label="Keep last"
            type="number"
            min="0"
            value={v.keepLast}
            error={e.keepLast}
          />
          <TextInput
            name="keepDaily"
            label="Daily"
            type="number"
            min="0"
            value={v.keepDaily}
            error={e.keepDaily}
          />
          <TextInput
            name="keepWeekly"
            label="Weekly"
            type="number"
            min="0"
            value={v.keepWeekly}
            error={e.keepWeekly}
          />
          <TextInput
            name="keepMonthly"
            label="Monthly"
            type="number"
            min="0"
            value={v.keepMonthly}
            error={e.keepMonthly}
          />
          <TextInput
            name="keepYearly"
            label="Yearly"
            type="number"
            min="0"
            value={v.keepYearly}
            error={e.keepYearly}
          />
        </div>
        <FieldError id="f-retention" error={e.retention} />
      </section>

      <div class="form-actions sticky">
        <button class="button primary" type="submit">
          {props.id ? 'Save policy' : 'Create policy'}
        </button>
        <a class="button ghost" href="/backups/settings">
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
