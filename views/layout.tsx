import type { Child } from 'hono/jsx'
import { raw } from 'hono/html'
import { zoneLabel } from '../src/time-zones.ts'

export type Flash = { kind: 'ok' | 'error'; text: string }

/** What every full page needs from the request. */
export type PageCtx = {
  csrf: string
  user: { name: string; role: 'admin' | 'tenant' } | null
  flash?: Flash | null
  bannerText?: string | null
  /** The zone every time on the page is in: the tenant's, or the server's for admins. */
  zone?: string
  /** Name and logo (PANEL_BRAND_*); the built-in "Backups" and ◆ when absent. */
  brand?: PageBrand
}

/** What pages show of the brand; `accent`: link /brand.css (PANEL_BRAND_ACCENT is set). */
export type PageBrand = { name: string; logo: string | null; accent: boolean }

const DEFAULT_BRAND: PageBrand = { name: 'Backups', logo: null, accent: false }

/** The brand's logo (or the ◆ mark) and name, in the menu and on the sign-in pages. */
export function BrandMark(props: { brand?: PageBrand }) {
  const brand = props.brand ?? DEFAULT_BRAND
  return (
    <>
      {brand.logo ? (
        <img class="brand-logo" src={brand.logo} alt="" />
      ) : (
        <span class="brand-mark" aria-hidden="true">
          ◆
        </span>
      )}{' '}
      {brand.name}
    </>
  )
}

function NavLinks(props: { items: NavItem[]; active?: string }) {
  return (
    <>
      {props.items.map((item) => (
        <a
          href={item.href}
          class={item.key === props.active ? 'nav-link active' : 'nav-link'}
          aria-current={item.key === props.active ? 'page' : undefined}
        >
          {item.label}
        </a>
      ))}
    </>
  )
}

// 422 carries a form with its errors beside the fields, so htmx swaps it like a 200.
const htmxConfig = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '422', swap: true },
    { code: '[45]..', swap: false, error: true },
  ],
})

type NavItem = { href: string; label: string; key: string }

const tenantNav: NavItem[] = [
  { href: '/backups', label: 'Overview', key: 'overview' },
  { href: '/backups/destinations', label: 'Destinations', key: 'destinations' },
  { href: '/backups/policies', label: 'Policies', key: 'settings' },
  { href: '/backups/notifications', label: 'Notifications', key: 'notifications' },
  { href: '/backups/restore', label: 'Restore', key: 'restore' },
  { href: '/backups/recovery', label: 'Recovery kit', key: 'recovery' },
  { href: '/backups/access', label: 'Access', key: 'access' },
  { href: '/backups/activity-log', label: 'Activity log', key: 'activity-log' },
]

const adminNav: NavItem[] = [
  { href: '/admin/tenants', label: 'Tenants', key: 'tenants' },
  { href: '/admin/destinations', label: 'Destinations', key: 'destinations' },
  { href: '/admin/policies', label: 'Backup policies', key: 'policies' },
  { href: '/admin/settings', label: 'Policy limits', key: 'settings' },
  { href: '/admin/runner', label: 'Runner', key: 'runner' },
  { href: '/admin/panel-backup', label: 'Panel backup', key: 'panel-backup' },
  { href: '/admin/audit', label: 'Audit log', key: 'audit' },
  { href: '/admin/recovery-kits', label: 'Recovery kits', key: 'recovery-kits' },
]

export function Layout(props: { ctx: PageCtx; title: string; active?: string; children: Child }) {
  const { ctx } = props
  const nav = ctx.user?.role === 'admin' ? adminNav : ctx.user ? tenantNav : []
  const brand = ctx.brand ?? DEFAULT_BRAND
  const current = nav.find((item) => item.key === props.active)
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="htmx-config" content={htmxConfig} />
          <title>
            {props.title} · {brand.name}
          </title>
          <link rel="icon" href="/favicon.ico" sizes="48x48" />
          <link rel="icon" href="/public/favicon.svg" type="image/svg+xml" />
          <link rel="stylesheet" href="/public/css/app.css" />
          {brand.accent && <link rel="stylesheet" href="/brand.css" />}
          <script src="/public/vendor/htmx.min.js" defer></script>
          <script src="/public/js/app.js" defer></script>
          <script src="/public/js/copy.js" defer></script>
        </head>
        <body hx-headers={JSON.stringify({ 'x-csrf-token': ctx.csrf })}>
          <div class={ctx.user ? 'shell' : 'shell shell-bare'}>
            {ctx.user && (
              <aside class="sidebar">
                <a class="brand" href={ctx.user.role === 'admin' ? '/admin' : '/backups'}>
                  <BrandMark brand={brand} />
                </a>
                <p class="nav-heading">
                  {ctx.user.role === 'admin' ? 'Administration' : 'Backups'}
                </p>
                <nav class="nav-main" aria-label="Main">
                  <NavLinks items={nav} active={props.active} />
                </nav>
                <div class="sidebar-foot">
                  <span class="who">
                    <span class="avatar" aria-hidden="true">
                      {ctx.user.name.slice(0, 1).toUpperCase()}
                    </span>
                    {ctx.user.name}
                  </span>
                  <form method="post" action="/logout">
                    <input type="hidden" name="_csrf" value={ctx.csrf} />
                    <button class="link-button" type="submit">
                      Sign out
                    </button>
                  </form>
                </div>
                {/* Phones: the same menu folds into one button (no JavaScript needed). */}
                <details class="nav-menu">
                  <summary>
                    Menu{current && <span class="nav-current">: {current.label}</span>}
                  </summary>
                  <div class="nav-menu-panel">
                    <nav aria-label="Menu">
                      <NavLinks items={nav} active={props.active} />
                    </nav>
                    <form method="post" action="/logout" class="nav-menu-foot">
                      <input type="hidden" name="_csrf" value={ctx.csrf} />
                      <span class="who">{ctx.user.name}</span>
                      <button class="button small" type="submit">
                        Sign out
                      </button>
                    </form>
                  </div>
                </details>
              </aside>
            )}
            <main class="content">
              {ctx.bannerText && <div class="banner">{ctx.bannerText}</div>}
              {ctx.flash && (
                <div class={`flash flash-${ctx.flash.kind}`} role="status">
                  {ctx.flash.text}
                </div>
              )}
              {props.children}
              {ctx.zone && ctx.user && (
                <p class="zone-note muted small">
                  {ctx.user.role === 'admin'
                    ? `Times are in the server’s time zone, ${zoneLabel(ctx.zone)}.`
                    : `Times are in ${zoneLabel(ctx.zone)}.`}
                </p>
              )}
            </main>
          </div>
        </body>
      </html>
    </>
  )
}

export function PageHead(props: { title: string; lead?: string; children?: Child }) {
  return (
    <header class="page-head">
      <div>
        <h1>{props.title}</h1>
        {props.lead && <p class="lead">{props.lead}</p>}
      </div>
      {props.children && <div class="page-actions">{props.children}</div>}
    </header>
  )
}
