#!/usr/bin/env node
// The `panel` command: loads TypeScript through tsx so there is no build step.
import { register } from 'tsx/esm/api'

register()
await import('./main.ts')
