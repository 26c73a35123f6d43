import { existsSync, statSync } from 'node:fs'
import { join, normalize } from 'node:path'
import { inProject } from './project-root.ts'

/** How the panel presents itself (PANEL_BRAND_*), read once with the rest of the configuration. */
export type Brand = {
  /** In the menu, on the sign-in page and in every page title (PANEL_BRAND_NAME; "Backups"). */
  name: string
  /**
   * A logo in place of the ◆ mark (PANEL_BRAND_LOGO): an http(s) URL, or a path under /public/
   * of a file in this project's public/ folder; null: the mark.
   */
  logo: string | null
  /** The accent colour (PANEL_BRAND_ACCENT) and the colours derived from it; null: the built-in blue. */
  accent: Accent | null
}

/**
 * `color` for buttons and the active tab, `ink` for text on it (black or white, whichever reads
 * better), `link` for links on white (the colour darkened until it reads at 4.5:1), `hover` a
 * shade darker for buttons under the pointer. All `#rrggbb`.
 */
export type Accent = { color: string; ink: string; link: string; hover: string }

const PUBLIC_DIR = inProject('public')

/** Reads PANEL_BRAND_NAME, PANEL_BRAND_LOGO and PANEL_BRAND_ACCENT; throws in plain words. */
export function brandOf(env: NodeJS.ProcessEnv): Brand {
  return {
    name: nameOf(env.PANEL_BRAND_NAME),
    logo: logoOf(env.PANEL_BRAND_LOGO),
    accent: accentOf(env.PANEL_BRAND_ACCENT),
  }
}

function nameOf(text: string | undefined): string {
  const name = (text ?? '').trim()
  if (!name) return 'Backups'
  if (name.length > 40 || /[\u0000-\u001f\u007f]/.test(name))
    throw new Error('PANEL_BRAND_NAME must be at most 40 characters, on one line')
  return name
}

function logoOf(text: string | undefined): string | null {
  const logo = (text ?? '').trim()
  if (!logo) return null
  if (/^https?:\/\//i.test(logo)) {
    try {
      const url = new URL(logo)
      if (!/^[^\s"'<>()]+$/.test(logo)) throw new Error()
      return url.href
    } catch {
      throw new Error(`PANEL_BRAND_LOGO: ${logo} is not a valid URL`)
    }
  }
  if (!/^\/public\/[\w./-]+$/.test(logo) || normalize(logo) !== logo)
    throw new Error('PANEL_BRAND_LOGO must be an http(s) URL or a path like /public/logo.svg')
  const file = join(PUBLIC_DIR, logo.slice('/public/'.length))
  if (!existsSync(file) || !statSync(file).isFile())
    throw new Error(`PANEL_BRAND_LOGO: ${logo} is served from ${file}, which does not exist`)
  return logo
}

/** The origin an absolute logo URL loads from (for the Content-Security-Policy), else null. */
export function logoOrigin(brand: Brand): string | null {
  return brand.logo && /^https?:/i.test(brand.logo) ? new URL(brand.logo).origin : null
}

type Rgb = [number, number, number]

function accentOf(text: string | undefined): Accent | null {
  const value = (text ?? '').trim().toLowerCase()
  if (!value) return null
  const rgb = parseColour(value)
  if (!rgb)
    throw new Error(
      `PANEL_BRAND_ACCENT: ${text} is not a colour; use #rgb, #rrggbb, rgb(r, g, b) or hsl(h, s%, l%)`,
    )
  const white: Rgb = [255, 255, 255]
  const black: Rgb = [0, 0, 0]
  let link = rgb
  for (let f = 0.95; contrast(link, white) < 4.5 && f > 0; f -= 0.05) link = shade(rgb, f)
  return {
    color: hex(rgb),
    ink: hex(contrast(rgb, white) >= contrast(rgb, black) ? white : black),
    link: hex(link),
    hover: hex(shade(rgb, 0.88)),
  }
}

function parseColour(value: string): Rgb | null {
  let m = value.match(/^#([0-9a-f]{3}|[0-9a-f]{6})$/)
  if (m) {
    const h = m[1]!.length === 3 ? [...m[1]!].map((c) => c + c).join('') : m[1]!
    return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as Rgb
  }
  m = value.match(/^rgb\(\s*(\d{1,3})\s*[,\s]\s*(\d{1,3})\s*[,\s]\s*(\d{1,3})\s*\)$/)
  if (m) {
    const rgb = m.slice(1, 4).map(Number) as Rgb
    return rgb.every((n) => n <= 255) ? rgb : null
  }
  m = value.match(
    /^hsl\(\s*(\d{1,3}(?:\.\d+)?)(?:deg)?\s*[,\s]\s*(\d{1,3}(?:\.\d+)?)%\s*[,\s]\s*(\d{1,3}(?:\.\d+)?)%\s*\)$/,
  )
  if (m) {
    const [h, s, l] = m.slice(1, 4).map(Number) as [number, number, number]
    if (h > 360 || s > 100 || l > 100) return null
    return hslToRgb(h, s / 100, l / 100)
  }
  return null
}

function hslToRgb(h: number, s: number, l: number): Rgb {
  const k = (n: number) => (n + h / 30) % 12
  const a = s * Math.min(l, 1 - l)
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1))
  return [f(0), f(8), f(4)].map((v) => Math.round(v * 255)) as Rgb
}

function shade(rgb: Rgb, factor: number): Rgb {
  return rgb.map((v) => Math.round(v * factor)) as Rgb
}

function hex(rgb: Rgb): string {
  return '#' + rgb.map((v) => v.toString(16).padStart(2, '0')).join('')
}

/** WCAG relative luminance and contrast ratio. */
function luminance(rgb: Rgb): number {
  const [r, g, b] = rgb.map((v) => {
    const c = v / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  }) as Rgb
  return 0.2126 * r + 0.7152 * g + 0.0722 * b
}

function contrast(a: Rgb, b: Rgb): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p) as [number, number]
  return (x + 0.05) / (y + 0.05)
}

/** The stylesheet that puts the accent in place of the built-in blue (served as /brand.css). */
export function accentCss(accent: Accent): string {
  return (
    `:root { --brand: ${accent.color}; --brand-ink: ${accent.ink}; ` +
    `--brand-link: ${accent.link}; --brand-hover: ${accent.hover}; }\n`
  )
}
