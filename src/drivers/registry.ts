import type { Spec } from './spec.ts'
import type { Driver } from './types.ts'
import type { GuardPolicy } from './guard.ts'
import { local } from './local/index.ts'
import { s3 } from './s3/index.ts'
import { sftp } from './sftp/index.ts'
import { webdav } from './webdav/index.ts'
import { dropbox } from './dropbox/index.ts'
import { azure } from './azure/index.ts'

/**
 * Where a driver instance works: the tenant it serves, the admin's local backup root, and the
 * outbound guard every connection to a tenant-supplied host must pass.
 */
export type DriverContext = { tenantName: string; localRoot: string; guard: GuardPolicy }

/** What every destination type provides to the panel. */
export type DriverEntry = {
  label: string
  description: string
  settings: Spec
  /** A driver over the destination, rooted at its folder/prefix for this tenant. */
  open(settings: Record<string, unknown>, secrets: Record<string, string>, ctx: DriverContext): Driver
  /**
   * How stock restic reaches the same repository (for the recovery kit): its repository string,
   * any environment it needs, and a note on what else is needed.
   */
  repository(
    settings: Record<string, unknown>,
    secrets: Record<string, string>,
    ctx: DriverContext,
  ): { repository: string; env?: Record<string, string>; note?: string }
  /**
   * Called by Test connection before the probe: settings to pin on first contact (an SSH host
   * key), returned as form text to store with the destination. Absent when nothing is pinned.
   */
  pin?(settings: Record<string, unknown>, secrets: Record<string, string>, ctx: DriverContext): Promise<Record<string, string>>
}

export type Registry = Record<string, DriverEntry>

/** Every destination type, listed explicitly (restic's all.go): no import side effects. */
export const drivers = { local, s3, sftp, webdav, dropbox, azure } satisfies Registry

export type DriverType = keyof typeof drivers
