import { describe, expect, it } from 'vitest'
import { accentCss, brandOf, logoOrigin } from '../../src/brand.ts'

describe('PANEL_BRAND_*', () => {
  it('defaults to "Backups", the ◆ mark and the built-in blue', () => {
    expect(brandOf({})).toEqual({ name: 'Backups', logo: null, accent: null })
    expect(brandOf({ PANEL_BRAND_NAME: '  ', PANEL_BRAND_ACCENT: '' }).name).toBe('Backups')
  })

  it('takes a name of one line, at most 40 characters', () => {
    expect(brandOf({ PANEL_BRAND_NAME: ' Acme Hosting ' }).name).toBe('Acme Hosting')
    expect(() => brandOf({ PANEL_BRAND_NAME: 'x'.repeat(41) })).toThrow(/at most 40/)
    expect(() => brandOf({ PANEL_BRAND_NAME: 'a\nb' })).toThrow(/one line/)
  })

  it.each([
    ['#3B5BFD', '#3b5bfd'],
    ['#0a6', '#00aa66'],
    ['rgb(10, 125, 90)', '#0a7d5a'],
    ['rgb(10 125 90)', '#0a7d5a'],
    ['hsl(0, 100%, 50%)', '#ff0000'],
    ['hsl(120deg 100% 25%)', '#008000'],
  ])('reads the accent %s as %s', (text, hex) => {
    expect(brandOf({ PANEL_BRAND_ACCENT: text }).accent?.color).toBe(hex)
  })

  it.each(['blue', '#12345', 'rgb(300, 0, 0)', 'url(x)', '#fff; } body { display: none', 'red;'])(
    'refuses the accent %s in plain words',
    (text) => {
      expect(() => brandOf({ PANEL_BRAND_ACCENT: text })).toThrow(
        /PANEL_BRAND_ACCENT: .* is not a colour; use #rgb, #rrggbb/,
      )
    },
  )

  it('puts black text on a light accent, white on a dark one, and darkens links to 4.5:1', () => {
    const light = brandOf({ PANEL_BRAND_ACCENT: '#f2c200' }).accent!
    expect(light.ink).toBe('#000000')
    expect(light.link).not.toBe('#f2c200')
    const dark = brandOf({ PANEL_BRAND_ACCENT: '#0a3d62' }).accent!
    expect(dark).toMatchObject({ ink: '#ffffff', link: '#0a3d62' })
    expect(accentCss(dark)).toBe(
      `:root { --brand: #0a3d62; --brand-ink: #ffffff; --brand-link: #0a3d62; --brand-hover: ${dark.hover}; }\n`,
    )
  })

  it('takes a logo URL (its origin goes into the CSP) or a file under /public', () => {
    const url = brandOf({ PANEL_BRAND_LOGO: 'https://cdn.example.com/acme/logo.svg' })
    expect(url.logo).toBe('https://cdn.example.com/acme/logo.svg')
    expect(logoOrigin(url)).toBe('https://cdn.example.com')
    const file = brandOf({ PANEL_BRAND_LOGO: '/public/favicon.svg' })
    expect(file.logo).toBe('/public/favicon.svg')
    expect(logoOrigin(file)).toBeNull()
    expect(() => brandOf({ PANEL_BRAND_LOGO: '/public/missing.png' })).toThrow(/does not exist/)
    expect(() => brandOf({ PANEL_BRAND_LOGO: '/public/../package.json' })).toThrow(
      /an http\(s\) URL or a path like \/public\/logo.svg/,
    )
    expect(() => brandOf({ PANEL_BRAND_LOGO: 'javascript:alert(1)' })).toThrow(/http\(s\) URL/)
    expect(() => brandOf({ PANEL_BRAND_LOGO: 'https://x.example/a"b.png' })).toThrow(/valid URL/)
  })
})
