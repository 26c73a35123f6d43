import { readFileSync } from 'node:fs'
import { isSecret, type Field, type Spec } from '../drivers/spec.ts'
import { UsageError, readStdin } from './io.ts'

/** The options of every verb that takes destination settings. */
export const settingsOptions = {
  set: { type: 'string', multiple: true },
  'set-secret-stdin': { type: 'string' },
  'set-secret-file': { type: 'string', multiple: true },
} as const

/** Whether any settings option was given (an edit without one has nothing to change). */
export const hasSettingsArgs = (opts: Record<string, any>) =>
  Object.keys(settingsOptions).some((k) => opts[k] !== undefined)

function splitPair(pair: string, option: string, form: string): [string, string] {
  const eq = pair.indexOf('=')
  if (eq < 1) throw new UsageError(`${option} takes ${form}, got "${pair}"`)
  return [pair.slice(0, eq), pair.slice(eq + 1)]
}

/** A secret read from a file: its text without the trailing newline most editors add. */
function readSecretFile(key: string, path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new Error(`--set-secret-file ${key}: cannot read "${path}" (${code})`)
  }
  return text.replace(/\r?\n$/, '')
}

/**
 * Settings given on the command line, keyed by spec field, as form text: `--set key=value`, one
 * secret as all of stdin (`--set-secret-stdin key`) and secrets read from files
 * (`--set-secret-file key=PATH`), so a secret never has to be on argv where `ps` and /proc show
 * it. A secret given with `--set` is still taken (older scripts use it) with a one-line warning
 * on stderr. Unknown keys, a key given twice, a non-secret by stdin or file, and an empty stdin
 * or file are UsageErrors; stdin is read only once everything else is checked.
 */
export async function settingsArgs(
  spec: Spec,
  opts: Record<string, any>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const seen = new Set<string>()
  const field = (key: string): Field => {
    const f = spec.find((x) => x.name === key)
    if (!f)
      throw new UsageError(
        `unknown setting "${key}" (settings: ${spec.map((x) => x.name).join(', ')})`,
      )
    if (seen.has(key)) throw new UsageError(`setting "${key}" is given twice`)
    seen.add(key)
    return f
  }
  const secretField = (key: string, option: string) => {
    if (!isSecret(field(key)))
      throw new UsageError(`${option} is for secret settings: give ${key} with --set ${key}=…`)
  }
  const onArgv: string[] = []
  for (const pair of (opts.set as string[] | undefined) ?? []) {
    const [key, value] = splitPair(pair, '--set', 'key=value')
    if (isSecret(field(key)) && value) onArgv.push(key)
    out[key] = value
  }
  const files = ((opts['set-secret-file'] as string[] | undefined) ?? []).map((pair) => {
    const [key, path] = splitPair(pair, '--set-secret-file', 'key=PATH')
    secretField(key, '--set-secret-file')
    return [key, path] as const
  })
  const stdinKey = opts['set-secret-stdin'] as string | undefined
  if (stdinKey !== undefined) secretField(stdinKey, '--set-secret-stdin')
  for (const [key, path] of files) {
    out[key] = readSecretFile(key, path)
    if (!out[key].trim()) throw new UsageError(`--set-secret-file ${key}: "${path}" is empty`)
  }
  if (stdinKey !== undefined) {
    out[stdinKey] = await readStdin()
    if (!out[stdinKey].trim())
      throw new UsageError(`--set-secret-stdin ${stdinKey}: stdin is empty`)
  }
  for (const key of onArgv) {
    console.error(
      `panel: warning: ${key} given with --set can be read by other users (ps, /proc); ` +
        `pass it with --set-secret-stdin ${key} or --set-secret-file ${key}=PATH instead.`,
    )
  }
  return out
}

/**
 * A stored destination's settings as the form text that would save them unchanged; secrets are
 * left out, since a blank secret keeps its stored value. What `destination edit` and `destination
 * test` start from.
 */
export function storedText(
  spec: Spec,
  settings: Record<string, unknown>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const f of spec) {
    if (isSecret(f)) continue
    const v = settings[f.name]
    if (f.type === 'checkbox') out[f.name] = v === true ? 'on' : undefined
    else out[f.name] = v === null || v === undefined ? '' : String(v)
  }
  return out
}
