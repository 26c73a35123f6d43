import type { DriverEntry } from './entry.ts'
import { local } from './local/index.ts'
import { s3 } from './s3/index.ts'
import { sftp } from './sftp/index.ts'
import { webdav } from './webdav/index.ts'
import { dropbox } from './dropbox/index.ts'
import { azure } from './azure/index.ts'

export type { ConnectHook, DriverContext, DriverEntry, RepositoryLocation } from './entry.ts'

/** Entries looked up by a stored type name: their settings are typed by `valuesOf` (spec.ts). */
export type Registry = Record<string, DriverEntry>

/** Every destination type, listed explicitly (restic's all.go): no import side effects. */
export const drivers = { local, s3, sftp, webdav, dropbox, azure } satisfies Registry

export type DriverType = keyof typeof drivers
