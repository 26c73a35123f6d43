import { Hono } from 'hono'
import { readFileSync } from 'node:fs'
import { accentCss } from '../brand.ts'
import { inProject } from '../project-root.ts'
import type { Deps } from './context.ts'

const ICON = readFileSync(inProject('public', 'favicon.ico'))

/**
 * `/favicon.ico` (browsers and bots ask for it on every page, whatever the page links) and
 * `/brand.css` (PANEL_BRAND_ACCENT's colours, a stylesheet because the CSP allows no inline
 * styles). Mounted before the session and CSRF middleware: neither sets a cookie.
 */
export function brandRoutes(deps: Deps) {
  const app = new Hono()
  const css = deps.config.brand.accent ? accentCss(deps.config.brand.accent) : ''
  app.get('/favicon.ico', (c) => {
    c.header('Content-Type', 'image/x-icon')
    c.header('Cache-Control', 'public, max-age=86400')
    return c.body(new Uint8Array(ICON))
  })
  app.get('/brand.css', (c) => {
    c.header('Content-Type', 'text/css; charset=utf-8')
    c.header('Cache-Control', 'public, max-age=3600')
    return c.body(css)
  })
  return app
}
