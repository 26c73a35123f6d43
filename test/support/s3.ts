import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import type { DriverEntry } from '../../src/drivers/registry.ts'
import { s3 } from '../../src/drivers/s3/index.ts'
import { settings } from '../../src/drivers/s3/settings.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import type { Driver } from '../../src/drivers/types.ts'
import type { S3rverServer } from '../services/s3rver.ts'

export const ALLOW: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }
export const MiB = 1 << 20
const entry: DriverEntry = s3 // the registry's contract, checked by the compiler

/** Settings as the panel parses them from form text (checkboxes as 'on'). */
export function form(raw: Record<string, string>) {
  const parsed = parseSettings(settings, {
    region: 'us-east-1',
    endpointProtocol: 'http',
    pathStyle: 'on',
    partLimit: '10000',
    storageClass: 'STANDARD',
    ...raw,
  })
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors))
  return parsed
}

export function tenantName() {
  return `t${randomBytes(4).toString('hex')}`
}

/** Endless 256 KiB chunks, a little slowly, so a test can act mid-upload. */
export function slowSource(onChunk: (bytes: number) => void = () => {}) {
  return Readable.from(
    (async function* () {
      for (let sent = 0; ;) {
        const chunk = randomBytes(256 * 1024)
        sent += chunk.length
        yield chunk
        onChunk(sent)
        await new Promise((r) => setTimeout(r, 2))
      }
    })(),
  )
}

/**
 * Drivers over bucket `backups` of `server()` (through the registry's contract), each for a
 * fresh tenant unless told; `closeAll` closes every one opened.
 */
export function s3Drivers(server: () => S3rverServer) {
  const opened: Driver[] = []
  function driverFor(
    raw: Record<string, string> = {},
    opts: { tenant?: string; guard?: GuardPolicy } = {},
  ) {
    const { settings: values, secrets } = form({
      bucket: 'backups',
      endpoint: server().endpoint,
      accessKeyId: server().accessKeyId,
      secretAccessKey: server().secretAccessKey,
      ...raw,
    })
    const d = entry.open(values, secrets, {
      tenantName: opts.tenant ?? tenantName(),
      localRoot: '/nonexistent',
      guard: opts.guard ?? ALLOW,
    })
    opened.push(d)
    return d
  }
  return { driverFor, closeAll: () => Promise.all(opened.map((d) => d.close?.())) }
}
