import { describe, expect, it } from 'vitest'
import { azure } from '../../src/drivers/azure/index.ts'
import { parseSettings } from '../../src/drivers/spec.ts'
import { DEV_ACCOUNT, DEV_KEY } from '../services/azurite.ts'
import { LOOPBACK, accountSas } from '../support/azure.ts'

describe('Azure Blob settings and recovery kit', () => {
  const form = {
    accountName: DEV_ACCOUNT,
    container: 'backups',
    path: '',
    endpoint: '',
    accountKey: DEV_KEY,
    sasToken: '',
  }

  it('validates each field with a sentence', () => {
    const ok = parseSettings(azure.settings, form)
    expect(ok).toEqual({
      ok: true,
      settings: { accountName: DEV_ACCOUNT, container: 'backups', path: '', endpoint: '' },
      secrets: { accountKey: DEV_KEY },
    })
    const bad = parseSettings(azure.settings, {
      accountName: 'My_Account',
      container: 'Bad--Name',
      path: '/leading',
      endpoint: 'ftp://example.com',
      accountKey: 'not base64!',
      sasToken: 'https://x.blob.core.windows.net/c',
    })
    expect(bad.ok).toBe(false)
    if (bad.ok) return
    expect(Object.keys(bad.errors).sort()).toEqual([
      'accountKey',
      'accountName',
      'container',
      'endpoint',
      'path',
      'sasToken',
    ])
    expect(bad.errors.path).toMatch(/leading slash/)
    const token = `?${accountSas()}`
    const sas = parseSettings(azure.settings, { ...form, accountKey: '', sasToken: token })
    expect(sas.ok && sas.secrets).toEqual({ sasToken: token })
    expect(
      parseSettings(azure.settings, { ...form, endpoint: 'https://x.example/?sv=1&sig=abc' }).ok,
    ).toBe(false)
    expect(parseSettings(azure.settings, { ...form, path: 'a/../b' }).ok).toBe(false)
    expect(parseSettings(azure.settings, { ...form, path: 'a/b/' }).ok).toBe(true)
    expect(azure.settings.filter((f) => f.type === 'secret').map((f) => f.name)).toEqual([
      'accountKey',
      'sasToken',
    ])
  })

  it('gives stock restic azure:<container>:/<path>/<tenant> with the account in the environment', () => {
    const ctx = { tenantName: 'alice', localRoot: '/nonexistent', guard: LOOPBACK }
    const key = azure.repository({ ...form, path: 'panel/backups/' }, { accountKey: 'S2V5' }, ctx)
    expect(key).toEqual({
      repository: 'azure:backups:/panel/backups/alice',
      env: { AZURE_ACCOUNT_NAME: DEV_ACCOUNT, AZURE_ACCOUNT_KEY: 'S2V5' },
      note: 'Your container: stock restic opens it directly from any computer, with the variables above.',
    })
    const sas = azure.repository(form, { sasToken: '?sv=1&sig=x' }, ctx)
    expect(sas.repository).toBe('azure:backups:/alice')
    expect(sas.env).toEqual({ AZURE_ACCOUNT_NAME: DEV_ACCOUNT, AZURE_ACCOUNT_SAS: 'sv=1&sig=x' })
    const china = azure.repository(
      { ...form, endpoint: `https://${DEV_ACCOUNT}.blob.core.chinacloudapi.cn` },
      { accountKey: 'S2V5' },
      ctx,
    )
    expect(china.env).toMatchObject({ AZURE_ENDPOINT_SUFFIX: 'core.chinacloudapi.cn' })
    expect(china.note).toMatch(/restic 0\.16/)
    const custom = azure.repository(
      { ...form, endpoint: 'http://127.0.0.1:10000/devstoreaccount1' },
      { accountKey: 'S2V5' },
      ctx,
    )
    expect(custom.note).toMatch(/Stock restic cannot reach the custom endpoint/)
    expect(custom.note).toMatch(/then run restic -r \.\/copy\/alice\.$/)
  })
})
