import type { Driver } from '../types.ts'

/** Placeholder until the Local driver lands (being written now). */
export function localDriver(_root: string): Driver {
  throw new Error('local driver not implemented yet')
}
