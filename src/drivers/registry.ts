import type { Spec } from './spec.ts'
import { local } from './local/index.ts'

/** What every destination type provides to the panel. */
export type DriverEntry = {
  label: string
  description: string
  settings: Spec
}

export type Registry = Record<string, DriverEntry>

/** Every destination type, listed explicitly (restic's all.go): no import side effects. */
export const drivers = { local } satisfies Registry

export type DriverType = keyof typeof drivers
