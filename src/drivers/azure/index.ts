import { defineDriver, type DriverContext } from '../entry.ts'
import { lazyDriver } from '../lazy.ts'
import { capabilities, settings, type AzureSettings } from './settings.ts'

/** `<path>/<tenant>`: the folder inside the container this tenant's repository lives in. */
function folderOf(values: AzureSettings, ctx: DriverContext): string {
  const path = values.path.trim().replace(/^\/+|\/+$/g, '')
  return path ? `${path}/${ctx.tenantName}` : ctx.tenantName
}

function endpointOf(values: AzureSettings): string {
  return (
    values.endpoint.trim().replace(/\/+$/, '') ||
    `https://${values.accountName.trim()}.blob.core.windows.net`
  )
}

/**
 * What stock restic needs for a custom endpoint. restic 0.14 and 0.15 only reach
 * `https://<account>.blob.core.windows.net`; restic 0.16 added AZURE_ENDPOINT_SUFFIX for other
 * Azure clouds (still https, still `<account>.blob.<suffix>`); nothing reaches a path-style or
 * http endpoint (Azurite and most compatible services).
 */
function endpointHelp(
  values: AzureSettings,
  folder: string,
): { env?: Record<string, string>; note?: string } {
  const endpoint = endpointOf(values)
  const account = values.accountName.trim()
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return { note: `The endpoint ${endpoint} is not a valid URL.` }
  }
  const host = url.hostname.toLowerCase()
  if (
    host === `${account}.blob.core.windows.net` &&
    url.protocol === 'https:' &&
    url.pathname === '/'
  )
    return {}
  const suffix = host.startsWith(`${account}.blob.`) ? host.slice(`${account}.blob.`.length) : ''
  if (suffix && url.protocol === 'https:' && url.pathname === '/' && !url.port) {
    return {
      env: { AZURE_ENDPOINT_SUFFIX: suffix },
      note: `This account is on ${suffix}: AZURE_ENDPOINT_SUFFIX needs restic 0.16 or newer (older restic only reaches core.windows.net).`,
    }
  }
  const container = values.container.trim()
  return {
    note:
      `Stock restic cannot reach the custom endpoint ${endpoint}: it only talks to https://<account>.blob.<Azure cloud>. ` +
      `To restore without the panel, download the blobs under “${folder}/” in container “${container}” ` +
      `(e.g. az storage blob download-batch -s ${container} -d ./copy --pattern '${folder}/*' with that endpoint), ` +
      `then run restic -r ./copy/${folder}.`,
  }
}

export const azure = defineDriver({
  label: 'Azure Blob',
  description:
    'A container in an Azure storage account (or a compatible service), with an account key or a SAS token.',
  settings,
  /** Objects under `<path>/<tenant>/` in the container; the Azure SDK loads at the first call. */
  open(values, secrets, ctx) {
    return lazyDriver(capabilities, async () => {
      const { azureDriver } = await import('./driver.ts')
      return azureDriver({
        account: values.accountName.trim(),
        key: secrets.accountKey || undefined,
        sas: secrets.sasToken || undefined,
        container: values.container.trim(),
        prefix: `${folderOf(values, ctx)}/`,
        endpoint: endpointOf(values),
        guard: ctx.guard,
      })
    })
  },
  /** `azure:<container>:/<path>/<tenant>` with the account name and key (or SAS) in the environment. */
  repository(values, secrets, ctx) {
    const folder = folderOf(values, ctx)
    const { env: extra, note } = endpointHelp(values, folder)
    const env: Record<string, string> = { AZURE_ACCOUNT_NAME: values.accountName.trim() }
    if (secrets.accountKey) env.AZURE_ACCOUNT_KEY = secrets.accountKey
    else if (secrets.sasToken) env.AZURE_ACCOUNT_SAS = secrets.sasToken.replace(/^\?/, '')
    const direct =
      'Your container: stock restic opens it directly from any computer, with the variables above.'
    return {
      repository: `azure:${values.container.trim()}:/${folder}`,
      env: { ...env, ...extra },
      // Any other endpoint has its own note saying what it takes.
      note: note ?? direct,
    }
  },
})
