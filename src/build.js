// The compiled panel: src/main.ts bundled by esbuild (JSX per tsconfig.json) into
// node_modules/.cache/panel/<fingerprint>/main.mjs, so a start runs JavaScript instead of
// compiling TypeScript. The TypeScript source stays the only truth: the folder is named after a
// fingerprint of the inputs (every file's path, size and mtime), so an edit gives a new name and
// the next start builds it. `npm ci` builds it once (`prepare`). Pure JavaScript packages are
// bundled too (one file to load instead of hundreds: drizzle-orm alone has over 100); the ones
// below stay in node_modules. Source maps are written beside the build: run with
// NODE_OPTIONS=--enable-source-maps for stack traces that name the .ts files.
// Plain JavaScript: this runs before anything can compile TypeScript.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const cache = join(root, 'node_modules', '.cache', 'panel')
/** What the build reads: an edit to any of these makes a new build. */
const INPUTS = ['src', 'views', 'package.json', 'package-lock.json', 'tsconfig.json']
/**
 * Packages loaded from node_modules: native addons, the cloud SDKs (loaded only when a driver
 * is used, see drivers/lazy.ts), nodemailer, and the build tools.
 */
const EXTERNAL = [
  'better-sqlite3',
  '@node-rs/argon2',
  'ssh2',
  'cpu-features',
  '@aws-sdk/*',
  '@smithy/*',
  '@azure/*',
  'webdav',
  '@buttercup/fetch',
  'dropbox',
  'nodemailer',
  'esbuild',
  'tsx',
]
/** Bundled CommonJS packages call `require` for Node's own modules. */
const BANNER =
  "import { createRequire as panelRequire } from 'node:module'\n" +
  'const require = panelRequire(import.meta.url)'
/** Builds kept besides the current one, for processes still running from them. */
const KEEP = 3

/** A hash of every input file's path, size and mtime (stats only: a few ms). */
export function fingerprint() {
  const hash = createHash('sha256')
  for (const input of INPUTS) {
    const at = join(root, input)
    if (!existsSync(at)) continue
    const top = statSync(at)
    const files = top.isDirectory()
      ? readdirSync(at, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath ?? e.path, e.name))
          .sort()
      : [at]
    for (const file of files) {
      const s = file === at ? top : statSync(file)
      hash.update(`${file}\0${s.size}\0${s.mtimeMs}\n`)
    }
  }
  return hash.digest('hex').slice(0, 16)
}

/** The entry of the build for the source as it is now, or null when there is none yet. */
export function currentBuild() {
  const entry = join(cache, fingerprint(), 'main.mjs')
  return existsSync(entry) ? entry : null
}

/**
 * Builds the source as it is now (unless that build exists) and returns its entry. Concurrent
 * builders each write a temporary folder and rename it into place; the first rename wins.
 */
export async function build() {
  const name = fingerprint()
  const dir = join(cache, name)
  const entry = join(dir, 'main.mjs')
  if (existsSync(entry)) return entry
  const { build: esbuild } = await import('esbuild')
  mkdirSync(cache, { recursive: true })
  const tmp = join(cache, `.tmp-${name}-${process.pid}`)
  rmSync(tmp, { recursive: true, force: true })
  try {
    await esbuild({
      absWorkingDir: root,
      entryPoints: { main: 'src/main.ts' },
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      // One chunk per dynamic import: a cloud SDK loads only when its driver is used.
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: EXTERNAL,
      banner: { js: BANNER },
      tsconfig: join(root, 'tsconfig.json'),
      keepNames: true,
      sourcemap: 'linked',
      logLevel: 'silent',
    })
    try {
      renameSync(tmp, dir)
    } catch (err) {
      if (!existsSync(entry)) throw err // else another process built the same source first
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  prune(name)
  return entry
}

/** Removes all but the newest builds, and temporary folders a crash left over an hour ago. */
function prune(current) {
  const folders = readdirSync(cache, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== current)
    .map((e) => ({ name: e.name, path: join(cache, e.name) }))
    .map((f) => ({ ...f, mtime: statSync(f.path).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
  const builds = folders.filter((f) => !f.name.startsWith('.tmp-'))
  const crashed = folders.filter((f) => f.name.startsWith('.tmp-') && Date.now() - f.mtime > 3.6e6)
  for (const f of [...builds.slice(KEEP), ...crashed])
    rmSync(f.path, { recursive: true, force: true })
}

// `node src/build.js` (the `prepare` script at `npm ci`). A failure does not fail the install:
// `panel` tries again at its next start, and runs the source through tsx meanwhile.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const entry = await build()
    console.log(`panel: built ${entry.slice(root.length + 1)}`)
  } catch (err) {
    console.warn(`panel: the build failed, the source will run through tsx: ${err.message}`)
  }
}
