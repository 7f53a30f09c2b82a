// `pagecast run`'s coordination flags: static needs none and refuses etcd's; etcd needs its
// endpoints and site, and each bad value is named by its flag.
import { describe, expect, it } from 'vitest';
import { parseCoordinationFlags } from '../../../controller/coordination/flags.js';

describe('coordination flags', () => {
  it('defaults to static, and takes etcd with its endpoints, site and numbers', () => {
    expect(parseCoordinationFlags({})).toEqual({ kind: 'static' });
    expect(parseCoordinationFlags({ coordinator: 'static' })).toEqual({ kind: 'static' });
    expect(
      parseCoordinationFlags({ coordinator: 'etcd', 'etcd-endpoints': 'http://10.0.0.2:2379, http://10.0.0.3:2379', site: 'lobby', capacity: '4', 'instance-id': 'box-1', 'lease-ttl': '5' }),
    ).toEqual({ kind: 'etcd', endpoints: ['http://10.0.0.2:2379', 'http://10.0.0.3:2379'], site: 'lobby', capacity: 4, instanceId: 'box-1', ttlSeconds: 5 });
    expect(parseCoordinationFlags({ coordinator: 'etcd', 'etcd-endpoints': 'https://etcd.lan:2379', site: 'x' })).toEqual({ kind: 'etcd', endpoints: ['https://etcd.lan:2379'], site: 'x' });
  });

  it('names the flag that is wrong', () => {
    const bad: Array<[Parameters<typeof parseCoordinationFlags>[0], RegExp]> = [
      [{ coordinator: 'zookeeper' }, /^--coordinator: expected static or etcd, got "zookeeper"$/],
      [{ site: 'lobby' }, /^--site needs --coordinator etcd$/],
      [{ coordinator: 'etcd', site: 'lobby' }, /^--coordinator etcd needs --etcd-endpoints/],
      [{ coordinator: 'etcd', 'etcd-endpoints': 'http://a:2379' }, /^--coordinator etcd needs --site NAME/],
      [{ coordinator: 'etcd', 'etcd-endpoints': '10.0.0.2:2379', site: 's' }, /^--etcd-endpoints: "10.0.0.2:2379" is not a URL \(expected http:\/\/HOST:2379\)$/],
      [{ coordinator: 'etcd', 'etcd-endpoints': 'unix:///run/etcd.sock', site: 's' }, /^--etcd-endpoints: "unix:\/\/\/run\/etcd.sock": expected http:\/\/ or https:\/\/$/],
      [{ coordinator: 'etcd', 'etcd-endpoints': 'http://a:2379,not a url', site: 's' }, /^--etcd-endpoints: "not a url" is not a URL/],
      [{ coordinator: 'etcd', 'etcd-endpoints': 'http://a:2379', site: 's', capacity: '0' }, /^--capacity: expected a whole number of at least 1, got "0"$/],
      [{ coordinator: 'etcd', 'etcd-endpoints': 'http://a:2379', site: 's', 'lease-ttl': '1.5' }, /^--lease-ttl: expected a whole number of at least 2, got "1.5"$/],
    ];
    for (const [flags, message] of bad) expect(() => parseCoordinationFlags(flags), JSON.stringify(flags)).toThrow(message);
  });
});
