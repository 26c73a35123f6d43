import { BlockList, isIP } from 'node:net'

/**
 * The reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` headers the panel believes
 * (`PANEL_TRUSTED_PROXIES`). Empty by default: then both headers are ignored.
 */
export type TrustedProxies = {
  /** The entries as configured, e.g. `['127.0.0.1', '10.0.0.0/8', '::1']`. */
  list: string[]
  /** True when `address` (IPv4, IPv6 or IPv4-mapped IPv6) is one of them. */
  has(address: string): boolean
}

/**
 * Parses a comma-separated list of addresses and CIDR ranges, IPv4 and IPv6
 * (`127.0.0.1, 10.0.0.0/8, fd00::/8`). Throws a RangeError naming the first entry that is neither.
 */
export function parseTrustedProxies(text: string | undefined): TrustedProxies {
  const list = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const blocks = new BlockList()
  for (const entry of list) {
    const [address = '', prefix, extra] = entry.split('/')
    const family = isIP(address)
    const bits = family === 4 ? 32 : 128
    const size = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1
    if (!family || extra !== undefined || size < 0 || size > bits) {
      throw new RangeError(
        `“${entry}” is not an IP address or a CIDR range like 10.0.0.0/8 or fd00::/8`,
      )
    }
    blocks.addSubnet(address, size, family === 4 ? 'ipv4' : 'ipv6')
  }
  return {
    list,
    has(addr) {
      const plain = plainAddress(addr)
      const family = isIP(plain)
      return family !== 0 && blocks.check(plain, family === 4 ? 'ipv4' : 'ipv6')
    },
  }
}

/** `::ffff:192.0.2.1` (an IPv4 client on an IPv6 socket) as `192.0.2.1`; IPv6 in lower case. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  return mapped ? mapped[1]! : address.toLowerCase()
}

/**
 * The client's address for a request whose socket peer is `peer`. Only when the peer is a
 * trusted proxy is `X-Forwarded-For` read: from its right end, each trusted hop is skipped and
 * the first address that is not trusted is the client (what a client wrote further left is not
 * believed). A malformed entry stops the walk at the hop that handed it over; when every hop is
 * trusted, the leftmost one is the client.
 */
export function forwardedClient(
  peer: string,
  forwardedFor: string | undefined,
  proxies: TrustedProxies,
): string {
  let client = plainAddress(peer)
  if (!forwardedFor || !proxies.has(client)) return client
  const hops = forwardedFor.split(',').map((s) => hopAddress(s.trim()))
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]
    if (!hop) return client
    client = hop
    if (!proxies.has(hop)) return hop
  }
  return client
}

/**
 * `https` or `http`: the value of `X-Forwarded-Proto` when the peer is a trusted proxy (the
 * rightmost value, the one that proxy set), else the scheme the request arrived with.
 */
export function forwardedScheme(
  peer: string,
  forwardedProto: string | undefined,
  proxies: TrustedProxies,
  arrivedWith: 'http' | 'https',
): 'http' | 'https' {
  if (!forwardedProto || !proxies.has(peer)) return arrivedWith
  const last = forwardedProto.split(',').pop()!.trim().toLowerCase()
  return last === 'https' || last === 'http' ? last : arrivedWith
}

/** One X-Forwarded-For entry as a plain address (some proxies add a port), or null. */
function hopAddress(entry: string): string | null {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry)
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry)
  const address = plainAddress(bracketed?.[1] ?? withPort?.[1] ?? entry)
  return isIP(address) ? address : null
}
