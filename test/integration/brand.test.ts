import { describe, expect, it } from 'vitest'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { Client, freshDeps } from '../helpers.ts'

describe('branding and the favicon', () => {
  it('answers /favicon.ico on every panel, without a cookie', async () => {
    const c = new Client(freshDeps())
    const res = await c.app.request('/favicon.ico')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/x-icon')
    expect(res.headers.get('set-cookie')).toBeNull()
    const icon = Buffer.from(await res.arrayBuffer())
    expect(icon.subarray(0, 4)).toEqual(Buffer.from([0, 0, 1, 0])) // an ICO header
    const svg = await c.app.request('/public/favicon.svg')
    expect(svg.status).toBe(200)
  })

  it('is "Backups" with the built-in colours by default', async () => {
    const c = new Client(freshDeps())
    const page = await c.get('/login')
    expect(page.body).toContain('<title>Sign in · Backups</title>')
    expect(page.body).toContain('<link rel="icon" href="/favicon.ico"')
    expect(page.body).not.toContain('/brand.css')
    expect(page.body).not.toMatch(/>\s*Panel\s*</)
    expect(await (await c.app.request('/brand.css')).text()).toBe('')
  })

  it('shows PANEL_BRAND_NAME, the logo and the accent stylesheet', async () => {
    const deps = freshDeps({
      env: {
        PANEL_BRAND_NAME: 'Acme Hosting',
        PANEL_BRAND_LOGO: 'https://cdn.example.com/acme.svg',
        PANEL_BRAND_ACCENT: '#0a7d5a',
      },
    })
    const c = new Client(deps)
    const page = await c.get('/login')
    expect(page.body).toContain('<title>Sign in · Acme Hosting</title>')
    expect(page.body).toContain(
      '<img class="brand-logo" src="https://cdn.example.com/acme.svg" alt=""/>',
    )
    expect(page.body).toContain('<link rel="stylesheet" href="/brand.css"/>')
    expect(page.headers.get('content-security-policy')).toContain(
      "img-src 'self' data: https://cdn.example.com",
    )
    const css = await c.app.request('/brand.css')
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect(await css.text()).toContain('--brand: #0a7d5a;')
  })

  it('refuses a bad accent at start, naming the variable', () => {
    expect(() => freshDeps({ env: { PANEL_BRAND_ACCENT: 'not-a-colour' } })).toThrow(ConfigError)
    const dir = mkdtempSync(join(tmpdir(), 'panel-brand-'))
    expect(() => loadConfig({ PANEL_DATA_DIR: dir, PANEL_BRAND_ACCENT: '#zzz' })).toThrow(
      /PANEL_BRAND_ACCENT: #zzz is not a colour/,
    )
  })
})
