#!/usr/bin/env node
// The `panel` command: runs the esbuild bundle of src/main.ts (see build.js), built again first
// when the source changed since, so it never runs stale code. Should the build fail, it runs the
// source through tsx instead (slower to start, same behaviour).
import { build, currentBuild } from './build.js'

let entry = currentBuild()
if (!entry) {
  try {
    entry = await build()
  } catch (err) {
    console.warn(`panel: the build failed, running the source through tsx: ${err.message}`)
  }
}
if (entry) {
  await import(entry)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('./main.ts')
}
