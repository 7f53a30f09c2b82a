// Home Assistant's ingress: the Supervisor proxies the console into Home Assistant's own pages, for
// users Home Assistant has already signed in. Its requests come from the Supervisor's address on
// its internal network (172.30.32.2, the address Home Assistant's add-on docs say to allow), carry
// the path the console is served under in X-Ingress-Path and name the user in X-Remote-User-*.
// Trusting them is opt-in (`pagecast run --trust-ingress`, which only the add-on's start script
// passes): anywhere else, that address and those headers mean nothing, since any client can send
// any header. Pure: the request's source address and headers in, a decision out.

/** The Supervisor's address on the hassio network: the only source of ingress requests. */
export const SUPERVISOR_ADDRESS = '172.30.32.2';

export interface IngressTrust {
  /** The proxy's addresses (default: the Supervisor's). Tests give a loopback one. */
  from?: readonly string[];
}

type Headers = Record<string, string | string[] | undefined>;

/** A plain absolute path, without a trailing slash: what the console puts before its own paths. */
const INGRESS_PATH = /^\/[A-Za-z0-9_./-]{0,200}$/;

/** X-Ingress-Path when it is a plain path ('' for "/"); undefined when absent or anything else. */
export function ingressPath(headers: Headers): string | undefined {
  const p = first(headers['x-ingress-path']);
  if (p === undefined || !INGRESS_PATH.test(p) || p.includes('..') || p.startsWith('//')) return undefined;
  return p.replace(/\/+$/, '');
}

/** An IPv4 address as a socket reports it, without the IPv6-mapped prefix. */
function plainAddress(remote: string): string {
  return remote.toLowerCase().startsWith('::ffff:') ? remote.slice(7) : remote;
}

/**
 * Whether this request is the Supervisor's ingress proxy speaking for a signed-in Home Assistant
 * user: trust is on, the connection comes from the proxy's address, and it names the path it
 * serves the console under. Nothing else makes a request an ingress request.
 */
export function isIngressRequest(trust: IngressTrust | undefined, remote: string | undefined, headers: Headers): boolean {
  if (!trust || remote === undefined) return false;
  const from = trust.from ?? [SUPERVISOR_ADDRESS];
  return from.includes(plainAddress(remote)) && ingressPath(headers) !== undefined;
}

/** The Home Assistant user the proxy names (for the audit log), from an ingress request only. */
export function ingressUser(headers: Headers): string | undefined {
  const name = first(headers['x-remote-user-name']) ?? first(headers['x-remote-user-id']);
  return name ? name.replace(/[^\w.@ -]/g, '').slice(0, 80) || undefined : undefined;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
