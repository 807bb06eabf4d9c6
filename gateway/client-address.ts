/**
 * The client's address: the socket's peer, or what the proxies in front of the gateway say it is, believed
 * only from proxies named in `trust_proxy` (proxy-addr's addresses, CIDR ranges and names: loopback,
 * linklocal, uniquelocal). `CF-Connecting-IP` is believed only with `behind_cloudflare`, and only from a
 * trusted peer: a client that sets it itself changes nothing.
 */
import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';

/** `false`: no proxy; `true`: proxies on this host or a private network; else a list or comma string. */
export type TrustSetting = boolean | string | string[];

export const trustSchema = {
  anyOf: [{ type: 'boolean' }, { type: 'string' }, { type: 'array', items: { type: 'string' } }],
};

const PRIVATE_PROXIES = ['loopback', 'linklocal', 'uniquelocal'];

/** The addresses a setting names, as proxy-addr reads them; throws naming one it cannot read. */
export function addressList(setting: TrustSetting): string[] {
  if (setting === false || setting === 'false') return [];
  if (setting === true || setting === 'true') return PRIVATE_PROXIES;
  const list = (Array.isArray(setting) ? setting : setting.split(',')).map((a) => a.trim()).filter(Boolean);
  proxyAddr.compile(list);
  return list;
}

/** A test of whether an address is in the list a setting names. */
export function addressMatcher(setting: TrustSetting): (address: string) => boolean {
  const trusted = proxyAddr.compile(addressList(setting));
  return (address) => trusted(address, 0);
}

/** Who a request came from: its address, and whether trusted proxies named it (their other headers count). */
export interface ClientAddress {
  address: string;
  viaProxy: boolean;
}

/**
 * `onProxyUntrusted` is told, once, of a request that a proxy on this host or a private network seems to
 * have forwarded (X-Forwarded-For) while `trust_proxy` names no proxy: every client behind it then counts
 * as that proxy, for every limit per address.
 */
export function clientAddressReader(
  options: { trust_proxy: TrustSetting; behind_cloudflare: boolean },
  onProxyUntrusted: (peer: string) => void = () => {},
): (req: IncomingMessage) => ClientAddress {
  const proxies = addressList(options.trust_proxy);
  const trust = proxyAddr.compile(proxies);
  const nearby = proxyAddr.compile(PRIVATE_PROXIES);
  // Nothing to tell once a proxy is named.
  let told = proxies.length > 0;
  return (req) => {
    const peer = req.socket.remoteAddress ?? 'unknown';
    if (!told && req.headers['x-forwarded-for'] !== undefined && nearby(peer, 0)) {
      told = true;
      onProxyUntrusted(peer);
    }
    if (options.behind_cloudflare && trust(peer, 0)) {
      const cloudflare = req.headers['cf-connecting-ip'];
      if (typeof cloudflare === 'string' && cloudflare.trim() !== '')
        return { address: cloudflare.trim(), viaProxy: true };
    }
    // The socket's peer first, then each address the trusted proxies added: the last is the client.
    const chain = proxyAddr.all(req, trust);
    return { address: chain.at(-1) ?? peer, viaProxy: chain.length > 1 };
  };
}

/**
 * Who counts as one client for a limit per address: an IPv4 address, or an IPv6 address's /64. A host or a
 * home is given a whole /64, and would otherwise have 2^64 addresses to spread its guesses over.
 */
export function addressSubject(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  return `${new ipaddr.IPv6([...v6.parts.slice(0, 4), 0, 0, 0, 0]).toString()}/64`;
}
