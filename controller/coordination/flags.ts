// `pagecast run`'s coordination flags, checked before anything starts: the static default needs
// none; etcd needs its endpoints and the site's name.
import { PagecastError } from '../../machines/errors.js';

export interface CoordinationFlags {
  coordinator?: string;
  'etcd-endpoints'?: string;
  site?: string;
  capacity?: string;
  'instance-id'?: string;
  'lease-ttl'?: string;
}

export type CoordinationConfig =
  | { kind: 'static' }
  | { kind: 'etcd'; endpoints: string[]; site: string; capacity?: number; instanceId?: string; ttlSeconds?: number };

const ETCD_ONLY = ['etcd-endpoints', 'site', 'capacity', 'instance-id', 'lease-ttl'] as const;

function fail(message: string): never {
  throw new PagecastError('CONFIG', message);
}

function wholeNumber(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || Number(text) < min) fail(`--${flag}: expected a whole number of at least ${min}, got "${text}"`);
  return Number(text);
}

/** Which coordinator the flags ask for; a CONFIG error naming the flag when they do not add up. */
export function parseCoordinationFlags(f: CoordinationFlags): CoordinationConfig {
  const kind = f.coordinator ?? 'static';
  if (kind === 'static') {
    const stray = ETCD_ONLY.filter((k) => f[k] !== undefined);
    if (stray.length) fail(`--${stray[0]} needs --coordinator etcd`);
    return { kind: 'static' };
  }
  if (kind !== 'etcd') fail(`--coordinator: expected static or etcd, got "${kind}"`);
  const raw = f['etcd-endpoints'];
  if (!raw) fail('--coordinator etcd needs --etcd-endpoints URL[,URL…] (the site’s etcd members)');
  const endpoints = raw.split(',').map((e) => e.trim()).filter(Boolean);
  for (const e of endpoints) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      fail(`--etcd-endpoints: "${e}" is not a URL (expected http://HOST:2379)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`--etcd-endpoints: "${e}": expected http:// or https://`);
  }
  if (!f.site) fail('--coordinator etcd needs --site NAME (the instances of one site share its specs)');
  const capacity = wholeNumber('capacity', f.capacity, 1);
  const ttlSeconds = wholeNumber('lease-ttl', f['lease-ttl'], 2);
  return {
    kind: 'etcd',
    endpoints,
    site: f.site,
    ...(capacity === undefined ? {} : { capacity }),
    ...(f['instance-id'] ? { instanceId: f['instance-id'] } : {}),
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
  };
}
