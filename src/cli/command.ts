import type { ParseArgsConfig } from 'node:util'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import type { drivers } from '../drivers/registry.ts'
import { UsageError } from './io.ts'

export type CliDeps = {
  db: Db
  secretKey: Buffer
  drivers: typeof drivers
  baseUrl: string
  config: Config
}

/** A verb: its own options, and a function of the parsed positionals and values. */
export type Command = {
  usage: string
  options: NonNullable<ParseArgsConfig['options']>
  run: (deps: CliDeps, args: string[], opts: Record<string, any>) => Promise<void> | void
}

/** Whole number option, or a UsageError naming the option. */
export function intOption(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^\d+$/.test(value))
    throw new UsageError(`--${name} must be a whole number`)
  return value
}
