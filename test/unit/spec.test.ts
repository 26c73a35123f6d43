import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  parseSettings,
  redact,
  secretsOf,
  settingsOf,
  type SecretsOf,
  type SettingsOf,
  type Spec,
} from '../../src/drivers/spec.ts'
import { folderProblem } from '../../src/drivers/local/settings.ts'

const spec = [
  { name: 'host', label: 'Host', type: 'text', required: true },
  { name: 'port', label: 'Port', type: 'number', min: 1, max: 65535, default: 22 },
  {
    name: 'mode',
    label: 'Mode',
    type: 'select',
    choices: [
      { value: 'a', label: 'A' },
      { value: 'b', label: 'B' },
    ],
  },
  { name: 'tls', label: 'TLS', type: 'checkbox' },
  { name: 'notes', label: 'Notes', type: 'textarea', advanced: true },
  { name: 'password', label: 'Password', type: 'secret', required: true },
  { name: 'key', label: 'Key', type: 'textarea', secret: true },
] as const satisfies Spec

describe('settings spec parsing', () => {
  it('accepts good input and splits secrets from settings', () => {
    const r = parseSettings(spec, {
      host: ' example.com ',
      port: '2222',
      mode: 'b',
      tls: 'on',
      password: 'pw',
      key: '',
    })
    expect(r).toEqual({
      ok: true,
      settings: { host: 'example.com', port: 2222, mode: 'b', tls: true, notes: '' },
      secrets: { password: 'pw' },
    })
  })

  it('reports each bad field with a sentence', () => {
    const r = parseSettings(spec, { host: '', port: '70000', mode: 'zzz', password: '' })
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.host).toBe('Host is required.')
    expect(r.errors.port).toBe('Port must be at most 65535.')
    expect(r.errors.mode).toMatch(/Choose one of the listed values/)
    expect(r.errors.password).toBe('Password is required.')
    expect(parseSettings(spec, { host: 'h', port: '1.5', password: 'x' }).ok).toBe(false)
  })

  it('keeps a stored secret when the field is left blank, replaces it when typed', () => {
    const kept = parseSettings(spec, { host: 'h', password: '' }, { password: 'old', key: 'PEM' })
    expect(kept.ok && kept.secrets).toEqual({ password: 'old', key: 'PEM' })
    const changed = parseSettings(spec, { host: 'h', password: 'new' }, { password: 'old' })
    expect(changed.ok && changed.secrets).toEqual({ password: 'new' })
  })

  it('redacts secrets to "is set"', () => {
    expect(redact(spec, { host: 'h' }, { password: 'pw' })).toMatchObject({
      host: 'h',
      password: true,
      key: false,
    })
  })
})

describe('settings typed by the spec', () => {
  it('derives the settings and secrets types from the spec alone', () => {
    expectTypeOf<SettingsOf<typeof spec>>().toEqualTypeOf<{
      host: string
      port: number | null
      mode: string
      tls: boolean
      notes: string
    }>()
    expectTypeOf<SecretsOf<typeof spec>>().toEqualTypeOf<{ password?: string; key?: string }>()
    const parsed = parseSettings(spec, { host: 'h', password: 'pw' })
    if (parsed.ok) expectTypeOf(parsed.settings).toEqualTypeOf<SettingsOf<typeof spec>>()
  })

  it('reads stored values as a blank form would give what is missing, dropping the rest', () => {
    expect(
      settingsOf(spec, { host: 'h', port: 22, tls: true, password: 'leaked?', other: 1 }),
    ).toEqual({
      host: 'h',
      port: 22,
      mode: '',
      tls: true,
      notes: '',
    })
    expect(settingsOf(spec, { port: 'x', tls: 'on', notes: 7 })).toEqual({
      host: '',
      port: null,
      mode: '',
      tls: false,
      notes: '7',
    })
    expect(secretsOf(spec, { password: 'pw', key: '', host: 'not a secret' })).toEqual({
      password: 'pw',
    })
  })
})

describe('local folder rule', () => {
  it.each(['backups', 'site/nightly', 'a.b-c_d'])('accepts %s', (f) =>
    expect(folderProblem(f)).toBeUndefined(),
  )
  it.each(['../etc', '/abs', 'a/../b', 'a//b', '.hidden', 'sp ace', 'x/./y'])('refuses %s', (f) =>
    expect(folderProblem(f)).toBeTypeOf('string'),
  )
})
