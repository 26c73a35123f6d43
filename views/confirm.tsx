import type { Child } from 'hono/jsx'
import { Layout, PageHead, type PageCtx } from './layout.tsx'
import { Csrf } from './fields.tsx'

/** What a confirmation page says, and where its Yes goes. */
export type Confirmation = {
  /** The question, naming the thing: `Delete the destination “Offsite”?` */
  title: string
  /** What happens and what stays, one plain sentence each. */
  points: Child[]
  /** Where Yes posts (the same route, now with `confirm=yes`). */
  action: string
  /** The Yes button: `Yes, delete it`. */
  button: string
  /** Where Cancel goes: the page the button was on. */
  cancel: string
  /** The menu entry to mark as the current page. */
  active?: string
}

/**
 * Are you sure? The page a destructive button leads to without JavaScript: the plain words of
 * what will happen, then one form that posts `confirm=yes` with the CSRF token, and Cancel.
 */
export function ConfirmActionPage(props: { ctx: PageCtx } & Confirmation) {
  return (
    <Layout ctx={props.ctx} title={props.title} active={props.active}>
      <PageHead title={props.title} />
      <section class="card confirm-card">
        <ul class="confirm-points">
          {props.points.map((p) => (
            <li>{p}</li>
          ))}
        </ul>
        <form method="post" action={props.action} class="form-actions">
          <Csrf token={props.ctx.csrf} />
          <input type="hidden" name="confirm" value="yes" />
          <button class="button danger" type="submit">
            {props.button}
          </button>
          <a class="button" href={props.cancel}>
            Cancel
          </a>
        </form>
      </section>
    </Layout>
  )
}
