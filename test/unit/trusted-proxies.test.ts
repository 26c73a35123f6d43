import { describe, expect, it } from 'vitest'
import { forwardedClient, forwardedScheme, parseTrustedProxies } from '../../src/trusted-proxies.ts'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const proxies = parseTrustedProxies(' 127.0.0.1, 10.0.0.0/8 ,fd00::/8,::1')

describe('PANEL_TRUSTED_PROXIES', () => {
  it('matches addresses and ranges, IPv4, IPv6 and IPv4 on an IPv6 socket', () => {
    expect(proxies.list).toEqual(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1'])
    for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '10.200.3.4', 'fd12::7', '::1', 'FD00::1'])
      expect(proxies.has(a), a).toBe(true)
    for (const a of ['127.0.0.2', '11.0.0.1', 'fe80::1', '::2', 'unknown', ''])
      expect(proxies.has(a), a).toBe(false)
    expect(parseTrustedProxies(undefined).has('127.0.0.1')).toBe(false)
  })

  it.each(['localhost', '10.0.0.0/33', '::1/129', '1.2.3.4/8/1', '10.0.0/8', '1.2.3.4/x'])(
    'refuses “%s” at start, naming it',
    (entry) => {
      const env = { PANEL_DATA_DIR: mkdtempSync(join(tmpdir(), 'panel-test-')) }
      expect(() => loadConfig({ ...env, PANEL_TRUSTED_PROXIES: `127.0.0.1,${entry}` })).toThrow(
        new ConfigError(
          `PANEL_TRUSTED_PROXIES: “${entry}” is not an IP address or a CIDR range like 10.0.0.0/8 or fd00::/8`,
        ),
      )
    },
  )

  it.each([
    ['an untrusted peer: headers ignored', '192.0.2.1', '198.51.100.1', '192.0.2.1'],
    ['no header', '127.0.0.1', undefined, '127.0.0.1'],
    ['one hop', '127.0.0.1', '192.0.2.7', '192.0.2.7'],
    ['the rightmost untrusted hop', '127.0.0.1', '198.51.100.1, 192.0.2.7', '192.0.2.7'],
    ['trusted hops skipped', '::ffff:127.0.0.1', '198.51.100.1, 192.0.2.7, 10.1.1.1', '192.0.2.7'],
    ['IPv6 hops', '::1', '2001:DB8::1, fd00::3', '2001:db8::1'],
    ['ports on hops', '127.0.0.1', '[2001:db8::2]:4711, 192.0.2.8:80', '192.0.2.8'],
    [
      'a garbage hop: the proxy that sent it',
      '127.0.0.1',
      '192.0.2.7, nonsense, 10.0.0.5',
      '10.0.0.5',
    ],
    ['every hop trusted: the leftmost', '127.0.0.1', '10.0.0.9, 10.0.0.5', '10.0.0.9'],
  ])('client address with %s', (_what, peer, header, client) => {
    expect(forwardedClient(peer, header, proxies)).toBe(client)
  })

  it('believes X-Forwarded-Proto only from a trusted peer', () => {
    expect(forwardedScheme('127.0.0.1', 'https', proxies, 'http')).toBe('https')
    expect(forwardedScheme('127.0.0.1', 'http, https', proxies, 'http')).toBe('https')
    expect(forwardedScheme('127.0.0.1', 'gopher', proxies, 'http')).toBe('http')
    expect(forwardedScheme('192.0.2.1', 'https', proxies, 'http')).toBe('http')
    expect(forwardedScheme('192.0.2.1', 'http', proxies, 'https')).toBe('https')
  })
})
