import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Client, addTenant, freshDeps } from '../helpers.ts'
import { localDestination } from '../support/tenants.ts'

const root = join(import.meta.dirname, '../..')

describe('Backups > Access shows the pull script with this panel’s address', async () => {
  const deps = freshDeps()
  const alice = await addTenant(deps, 'alice')
  const c = new Client(deps)
  await c.login('alice')

  it('is the README’s script, byte for byte (public/panel-pull.sh)', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const block = readme.match(
      /<!-- pull-script:start -->\n```bash\n([\s\S]*?)```\n<!-- pull-script:end -->/,
    )
    expect(block?.[1]).toBe(readFileSync(join(root, 'public/panel-pull.sh'), 'utf8'))
  })

  it('fills in the address the tenant reaches the panel at, with Copy buttons', async () => {
    const page = await c.get('/backups/access')
    expect(page.status).toBe(200)
    expect(page.body).not.toContain('README')
    expect(page.body).toContain('Pull your backups to another computer')
    // app.request() answers as http://localhost.
    expect(page.body).toMatch(/data-testid="pull-settings">PANEL_URL=http:\/\/localhost\n/)
    expect(page.body).toContain('#   PANEL_URL=http://localhost\n')
    expect(page.body).not.toContain('panel.example.com')
    for (const words of ['Copy settings', 'Copy script', 'Copy cron line'])
      expect(page.body).toContain(`data-copy="${words}"`)
    const settings = page.body.match(/data-testid="pull-settings">([^<]*)<\/pre>/)![1]!
    expect(settings).not.toContain('PANEL_DESTINATION')
  })

  it('names the destinations to choose from when there are several', async () => {
    const a = await localDestination(deps, alice.id, 'a', 'On this server')
    const b = await localDestination(deps, alice.id, 'b', 'Second disk')
    const page = await c.get('/backups/access')
    expect(page.body).toContain(`<span class="mono">${a.id}</span> for “On this server”`)
    expect(page.body).toContain(`<span class="mono">${b.id}</span> for “Second disk”`)
    expect(page.body).toContain(`PANEL_DESTINATION=${a.id}\n`)
  })

  it('downloads the script with the address filled in', async () => {
    const res = await c.get('/backups/access/panel-pull')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="panel-pull"')
    expect(res.body.startsWith('#!/usr/bin/env bash\n')).toBe(true)
    expect(res.body).toContain(': "${PANEL_URL:?set PANEL_URL, e.g. http://localhost}"')
    expect((await new Client(deps).get('/backups/access/panel-pull')).status).toBe(302)
  })

  it('uses PANEL_BASE_URL when it is set', async () => {
    const behind = freshDeps({ env: { PANEL_BASE_URL: 'https://panel.host.example' } })
    await addTenant(behind, 'alice')
    const b = new Client(behind)
    await b.get('/login')
    // The CSRF origin check wants the configured origin.
    const login = await b.post(
      '/login',
      { username: 'alice', password: 'correct horse battery' },
      { origin: 'https://panel.host.example' },
    )
    expect(login.status).toBe(303)
    const page = await b.get('/backups/access')
    expect(page.body).toContain('PANEL_URL=https://panel.host.example\n')
  })
})
