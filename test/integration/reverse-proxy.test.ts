import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { desc } from 'drizzle-orm'
import { auditLog } from '../../src/db/schema.ts'
import type { Deps } from '../../src/web/context.ts'
import { PASSWORD, addTenant, freshDeps } from '../helpers.ts'
import { servePanel, stopPanel, type Panel } from '../e2e/browser.ts'
import { requireNginx, startNginx, type Nginx } from '../services/nginx.ts'

const HOST = 'panel.test'
/** nginx reaches the panel from this loopback address; the clients come from others. */
const NGINX_ADDRESS = '127.0.0.9'
/** A load balancer in front of nginx: trusted as well, so the hop it names is believed. */
const FRONT_ADDRESS = '127.0.0.3'

type Answer = { status: number; headers: IncomingHttpHeaders; body: string; cookies: string[] }

/**
 * A browser on one loopback address, talking to one port (nginx's, or the panel's directly):
 * keeps cookies and the page's CSRF token, sends the Origin its scheme and Host make.
 */
class Browser {
  cookies = new Map<string, string>()
  token = ''
  constructor(
    readonly port: number,
    readonly address: string,
    readonly tls = false,
  ) {}

  send(method: string, path: string, extra: Record<string, string> = {}, body?: string) {
    const headers: Record<string, string> = { host: HOST, ...extra }
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    if (cookie) headers.cookie = cookie
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const options = {
      host: '127.0.0.1',
      port: this.port,
      localAddress: this.address,
      method,
      path,
      headers,
      ...(this.tls ? { servername: HOST, rejectUnauthorized: false } : {}),
    }
    return new Promise<Answer>((resolve, reject) => {
      const req = (this.tls ? httpsRequest : httpRequest)(options, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => {
          const cookies = res.headers['set-cookie'] ?? []
          for (const line of cookies) {
            const [name, ...value] = line.split(';')[0]!.split('=')
            this.cookies.set(name!, value.join('='))
          }
          const token = /name="_csrf" value="([^"]+)"/.exec(text)
          if (token) this.token = token[1]!
          resolve({ status: res.statusCode!, headers: res.headers, body: text, cookies })
        })
      })
      req.on('error', reject)
      req.end(body)
    })
  }

  /** Opens the sign-in page, then signs in: the answer to the POST. */
  async signIn(username: string, password: string, extra: Record<string, string> = {}) {
    await this.send('GET', '/login', extra)
    const form = new URLSearchParams({ username, password, _csrf: this.token }).toString()
    const origin = `${this.tls ? 'https' : 'http'}://${HOST}`
    return this.send('POST', '/login', { ...extra, origin }, form)
  }
}

const sessionCookie = (a: Answer) => a.cookies.find((l) => l.startsWith('panel_session='))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Failed sign-ins to `count` different accounts, waiting whenever the panel asks (429). */
async function spray(b: Browser, count: number) {
  for (let done = 0, i = 0; done < count; i++) {
    const res = await b.signIn(`nobody${i}`, 'Summer2030!')
    if (res.status === 429) await sleep(Number(res.headers['retry-after']) * 1000)
    else done++
  }
}

/** The last audit entries, newest first, as [action, ip]. */
async function lastAudit(deps: Deps, n: number) {
  const rows = await deps.db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(n)
  return rows.map((r) => [r.action, r.ip])
}

describe.runIf(requireNginx())('behind a real nginx', () => {
  const trusting = freshDeps()
  const ignoring = freshDeps()
  let panels: Panel[] = []
  let nginx: Nginx
  // nginx ports: trusting panel over http and https, then the ignoring panel over http and https
  let ports: number[] = []

  beforeAll(async () => {
    for (const deps of [trusting, ignoring]) {
      await addTenant(deps, 'alice')
      await addTenant(deps, 'bob')
    }
    panels = [
      await servePanel(trusting, {
        PANEL_RUNNER: '0',
        PANEL_TRUSTED_PROXIES: `${NGINX_ADDRESS}, ${FRONT_ADDRESS}`,
      }),
      await servePanel(ignoring, { PANEL_RUNNER: '0' }),
    ]
    const upstreams = panels.map((p) => new URL(p.url).host)
    nginx = await startNginx(
      upstreams.flatMap((upstream) => [{ upstream }, { upstream, tls: true }]),
      { bind: NGINX_ADDRESS, serverName: HOST },
    )
    ports = nginx.ports
  }, 60_000)

  afterAll(async () => {
    await nginx?.stop()
    for (const p of panels) await stopPanel(p)
  })

  it('audits the address nginx forwarded, not one the client wrote', async () => {
    const client = new Browser(ports[0]!, '127.0.0.2')
    const spoofed = { 'x-forwarded-for': '198.51.100.23' }
    expect((await client.signIn('alice', 'wrong', spoofed)).status).toBe(401)
    expect((await client.signIn('bob', PASSWORD, spoofed)).status).toBe(303)
    expect(await lastAudit(trusting, 2)).toEqual([
      ['login.ok', '127.0.0.2'],
      ['login.failed', '127.0.0.2'],
    ])
    // Through a trusted load balancer that names its own client, that client is believed.
    const front = new Browser(ports[0]!, FRONT_ADDRESS)
    await front.signIn('alice', 'wrong', { 'x-forwarded-for': '192.0.2.44' })
    expect(await lastAudit(trusting, 1)).toEqual([['login.failed', '192.0.2.44']])
    // Straight to the panel, not from a trusted proxy: the header is ignored.
    const direct = new Browser(Number(new URL(panels[0]!.url).port), '127.0.0.2')
    await direct.signIn('alice', 'wrong', { 'x-forwarded-for': '192.0.2.45' })
    expect(await lastAudit(trusting, 1)).toEqual([['login.failed', '127.0.0.2']])
  })

  it('marks the session cookie Secure when nginx says the client used https', async () => {
    const overTls = await new Browser(ports[1]!, '127.0.0.7', true).signIn('bob', PASSWORD)
    expect(overTls.status).toBe(303)
    expect(sessionCookie(overTls)).toMatch(/; Secure/i)
    const plain = await new Browser(ports[0]!, '127.0.0.7').signIn('bob', PASSWORD)
    expect(plain.status).toBe(303)
    expect(sessionCookie(plain)).not.toMatch(/Secure/i)
  })

  it('throttles each real client: one client’s failures do not slow another', async () => {
    const attacker = new Browser(ports[0]!, '127.0.0.4')
    await spray(attacker, 12)
    const held = await attacker.signIn('alice', PASSWORD)
    expect(held.status).toBe(429)
    expect(held.body).toMatch(/Too many attempts: try again in \d+ seconds?\./)
    const owner = await new Browser(ports[0]!, '127.0.0.5').signIn('alice', PASSWORD)
    expect(owner.status).toBe(303)
    expect((await new Browser(ports[1]!, '127.0.0.6', true).signIn('bob', 'wrong')).status).toBe(
      401,
    )
  }, 30_000)

  it('without PANEL_TRUSTED_PROXIES ignores the forwarded headers', async () => {
    const client = new Browser(ports[2]!, '127.0.0.2')
    expect((await client.signIn('bob', PASSWORD, { 'x-forwarded-for': '192.0.2.50' })).status).toBe(
      303,
    )
    expect(await lastAudit(ignoring, 1)).toEqual([['login.ok', NGINX_ADDRESS]])
    const overTls = new Browser(ports[3]!, '127.0.0.2', true)
    const page = await overTls.send('GET', '/login')
    expect(page.cookies.find((l) => l.startsWith('panel_csrf='))).not.toMatch(/Secure/i)
    // Every client is nginx to this panel: one client's failures hold everyone's sign-in.
    await spray(new Browser(ports[2]!, '127.0.0.4'), 12)
    const owner = await new Browser(ports[2]!, '127.0.0.5').signIn('alice', PASSWORD)
    expect(owner.status).toBe(429)
  }, 30_000)
})
