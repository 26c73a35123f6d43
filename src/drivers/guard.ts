import { BlockList, isIP } from 'node:net'
import { lookup } from 'node:dns/promises'
import { StorageError } from './types.ts'

/**
 * The one gate for every outbound connection to a tenant-supplied host: resolve, check every
 * address, and connect only to a checked address. Loopback, private, link-local, CGNAT and
 * metadata ranges (and their IPv6 forms) are refused unless the admin allowlisted them.
 */
export type GuardPolicy = {
  /** Host names (exact, case-insensitive) or CIDR ranges the admin allows despite the rules. */
  allow: readonly string[]
}

const blocked = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
  ['fd00:ec2::', 32],
] as const)
  blocked.addSubnet(net, bits, 'ipv6')

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it carries. */
function normalize(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i)
  if (mapped) return { address: mapped[1]!, family: 'ipv4' }
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' }
}

function allowedBy(policy: GuardPolicy, host: string, address: string): boolean {
  const { address: a, family } = normalize(address)
  for (const rule of policy.allow) {
    if (rule.toLowerCase() === host.toLowerCase() || rule === a) return true
    const [net, bits] = rule.split('/')
    if (bits && isIP(net!)) {
      const list = new BlockList()
      try {
        list.addSubnet(net!, Number(bits), isIP(net!) === 6 ? 'ipv6' : 'ipv4')
      } catch {
        continue
      }
      if (list.check(a, family)) return true
    }
  }
  return false
}

/** True when connecting to `address` (for `host`) is allowed under `policy`. */
export function addressAllowed(policy: GuardPolicy, host: string, address: string): boolean {
  const { address: a, family } = normalize(address)
  return !blocked.check(a, family) || allowedBy(policy, host, address)
}

/**
 * Resolves `host` and returns an address to connect to, after checking every address it
 * resolves to. Numeric forms that are not dotted quads (2130706433, 0x7f.1) are refused outright.
 */
export async function resolveChecked(
  policy: GuardPolicy,
  host: string,
): Promise<{ address: string; family: 4 | 6 }> {
  const bare = host.replace(/^\[|\]$/g, '')
  if (!bare) throw new StorageError('BadConfig', 'No host name was given.')
  if (!isIP(bare) && /^[0-9.x]+$/i.test(bare)) {
    throw new StorageError('BadConfig', `“${host}” is not a host name or a normal IP address.`)
  }
  let addresses: { address: string; family: number }[]
  try {
    addresses = isIP(bare)
      ? [{ address: bare, family: isIP(bare) }]
      : await lookup(bare, { all: true, verbatim: true })
  } catch (err) {
    throw new StorageError(
      'BadConfig',
      `The host “${host}” could not be found (DNS lookup failed).`,
      { cause: err },
    )
  }
  for (const a of addresses) {
    if (!addressAllowed(policy, bare, a.address)) {
      throw new StorageError(
        'BadConfig',
        `The host “${host}” resolves to ${a.address}, a private, loopback or metadata address; connections there are not allowed. Ask your administrator if this is intended.`,
      )
    }
  }
  const first = addresses[0]!
  return { address: first.address, family: first.family === 6 ? 6 : 4 }
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | { address: string; family: number }[],
  family?: number,
) => void

/**
 * A `lookup` for net/tls/http agents: every connection an SDK makes goes through
 * resolveChecked, so it can only reach checked addresses (IP literals are checked by
 * `checkUrlHost` before the SDK is built, as Node skips lookup for them).
 */
export function guardedLookup(policy: GuardPolicy) {
  return (
    hostname: string,
    options: { all?: boolean } | number | undefined,
    callback: LookupCallback,
  ) => {
    resolveChecked(policy, hostname).then(
      ({ address, family }) => {
        const all = typeof options === 'object' && options?.all
        if (all) callback(null, [{ address, family }])
        else callback(null, address, family)
      },
      (err) => callback(Object.assign(err, { code: 'EGUARD' }), ''),
    )
  }
}

/** Checks a URL's host (names and IP literals alike) before any client is built for it. */
export async function checkUrlHost(policy: GuardPolicy, url: string): Promise<void> {
  let host: string
  try {
    host = new URL(url).hostname
  } catch {
    throw new StorageError('BadConfig', `“${url}” is not a valid URL.`)
  }
  await resolveChecked(policy, host)
}
