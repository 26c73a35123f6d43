import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** Cookie holding the per-browser CSRF secret; rotated at sign-in and sign-out. */
export const CSRF_COOKIE = 'panel_csrf'
/** Header htmx sends the token in; plain forms send the `_csrf` field instead. */
export const CSRF_HEADER = 'x-csrf-token'
export const CSRF_FIELD = '_csrf'

export function newCsrfSecret(): string {
  return randomBytes(24).toString('base64url')
}

/** The token pages embed: an HMAC of the cookie's secret, so a page leak is not the cookie. */
export function csrfToken(key: Buffer, secret: string): string {
  return createHmac('sha256', key)
    .update('csrf:' + secret)
    .digest('base64url')
}

export function csrfTokenMatches(key: Buffer, secret: string, token: string): boolean {
  const want = Buffer.from(csrfToken(key, secret))
  const got = Buffer.from(token)
  return got.length === want.length && timingSafeEqual(got, want)
}

/** True when the Origin header (or, lacking one, the Referer) is the panel's own origin. */
export function sameOrigin(
  expected: string,
  origin: string | undefined,
  referer?: string,
): boolean {
  if (origin) return origin === expected
  if (!referer) return false
  try {
    return new URL(referer).origin === expected
  } catch {
    return false
  }
}
