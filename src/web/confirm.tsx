import { ConfirmActionPage, type Confirmation } from '../../views/confirm.tsx'
import { type Ctx, isHtmx, pageCtx, readForm, str } from './context.ts'

export type { Confirmation }

/**
 * True when the POST carries `confirm=yes`: the Yes of a confirmation page, or a DangerButton
 * after the browser's own dialog (htmx). Every route that deletes, revokes or cancels asks this
 * first, so a bare POST (no JavaScript, an old form, a script) never acts at once.
 */
export async function confirmed(c: Ctx): Promise<boolean> {
  return str(await readForm(c), 'confirm') === 'yes'
}

/**
 * Answers the confirmation page (200) instead of acting; its Yes posts to `action`, by default
 * the path of this request. For an htmx request the whole page
 * replaces the body, since the fragment the button meant to swap would not hold it.
 */
export function askToConfirm(
  c: Ctx,
  confirmation: Omit<Confirmation, 'action'> & { action?: string },
) {
  if (isHtmx(c)) {
    c.header('HX-Retarget', 'body')
    c.header('HX-Reswap', 'innerHTML')
  }
  // Yes posts back to the route that asked, wherever it is mounted.
  const action = confirmation.action ?? c.req.path
  return c.html(<ConfirmActionPage ctx={pageCtx(c)} {...confirmation} action={action} />)
}
