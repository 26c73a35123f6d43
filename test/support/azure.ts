import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  SASProtocol,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob'
import { azure } from '../../src/drivers/azure/index.ts'
import type { GuardPolicy } from '../../src/drivers/guard.ts'
import type { Driver } from '../../src/drivers/types.ts'
import { DEV_ACCOUNT, DEV_KEY, type AzuriteServer } from '../services/azurite.ts'

export const CONTAINER = 'panel'
export const LOOPBACK: GuardPolicy = { allow: ['127.0.0.1', 'localhost', '::1'] }

/** An account SAS for the Blob service, signed with `key` (the dev key unless told). */
export function accountSas(
  opts: { permissions?: string; expiresOn?: Date; key?: string } = {},
): string {
  return generateAccountSASQueryParameters(
    {
      permissions: AccountSASPermissions.parse(opts.permissions ?? 'rwdlac'),
      services: AccountSASServices.parse('b').toString(),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      protocol: SASProtocol.HttpsAndHttp,
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn: opts.expiresOn ?? new Date(Date.now() + 60 * 60_000),
    },
    new StorageSharedKeyCredential(DEV_ACCOUNT, opts.key ?? DEV_KEY),
  ).toString()
}

/**
 * Drivers over container `panel` of `az()`, each under a fresh path (`t1`, `t2`…) for tenant
 * `alice` unless told, with the dev account key unless other secrets are given; `closeAll`
 * closes every one opened.
 */
export function azureDrivers(az: () => AzuriteServer) {
  const opened: Driver[] = []
  let n = 0
  function open(
    settings: Record<string, string> = {},
    secrets: Record<string, string> = { accountKey: DEV_KEY },
    opts: { tenant?: string; guard?: GuardPolicy } = {},
  ): Driver {
    const values = {
      accountName: DEV_ACCOUNT,
      container: CONTAINER,
      path: `t${++n}`,
      endpoint: az().endpoint,
      ...settings,
    }
    const driver = azure.open(values, secrets, {
      tenantName: opts.tenant ?? 'alice',
      localRoot: '/nonexistent',
      guard: opts.guard ?? LOOPBACK,
    })
    opened.push(driver)
    return driver
  }
  /** A fresh folder name under the container, for a test that opens its own driver. */
  const fresh = (under: string) => `${under}/${++n}`
  return { open, fresh, closeAll: () => Promise.all(opened.map((d) => d.close?.())) }
}
