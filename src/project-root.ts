import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The name in the project's package.json, which marks the project folder. */
const NAME = 'panel-backups'

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === NAME) return dir
    if (dirname(dir) === dir) throw new Error(`No package.json named ${NAME} above ${from}.`)
  }
}

/**
 * The project folder (where package.json, public/ and drizzle/ are), found by walking up from
 * this module, so it is the same whether the code runs from src/ (tsx, vitest) or from the build
 * under node_modules/.cache/panel/. No trailing slash.
 */
export const projectRoot: string = findRoot(dirname(fileURLToPath(import.meta.url)))

/** A path inside the project folder: `inProject('public', 'favicon.ico')`. */
export function inProject(...parts: string[]): string {
  return join(projectRoot, ...parts)
}
